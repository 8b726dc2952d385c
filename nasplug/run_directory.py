"""The one owner of a run directory: claim, config, checkpoints and metrics, resume, results.

A search (:class:`~nasplug.search.run.SearchRun`), a retraining
(:class:`~nasplug.train.Trainer`), a tabular run of nasplug-nb201 and every
sweep trial keep their loops and never touch a file: they hand this owner
their ``state_dict()`` at each epoch end and get a checked state back on
resume, the way pytest's ``Cache`` owns ``.pytest_cache`` and Lightning's
checkpoint connector is the one place a trainer saves and restores.  So
every run kind keeps the same promises (README, "What a run directory
guarantees"):

- one writer: :class:`~nasplug.runlock.RunLock` (an ``flock`` on the
  directory itself, held for the life of the process);
- the directory's files are its own: a symlinked run file (``cp -rs``) is
  replaced by a copy of what it points to before anything is written, so a
  resumed copy never writes into the original;
- each epoch, the checkpoint (with its digest, the previous one kept) and
  then the epoch's metrics lines, so a kill at any instant loses at most the
  epoch in progress and resume replays it exactly;
- the process's random states (torch, CUDA, and every rank's in a
  distributed run) travel in the checkpoint for every run kind;
- a checkpoint is checked completely before anything uses it: digest, the
  run it belongs to, every tensor's dtype and shape, every field's type,
  optimizer buffers against their parameters; a checkpoint without a
  digest (written before digests) only with ``unverified_ok``;
- a deleted checkpoint of a run that recorded epochs is refused, never
  restarted over the results;
- the world size and rank-sampling of a distributed run are recorded and
  checked on resume.
"""

from __future__ import annotations

import functools
import json
import math
import os
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from nasplug import distributed
from nasplug.checkpoint import load_checkpoint, resume_checkpoint, save_checkpoint
from nasplug.errors import ConfigError, NasplugError, RunDirError
from nasplug.rundir import (CHECKPOINT, METRICS, PREVIOUS_CHECKPOINT, append_jsonl, atomic_write_bytes,
                            atomic_write_json, json_text, read_json, read_jsonl, sync_jsonl, write_json_if_changed)
from nasplug.runlock import RunLock, claim

WORLD_FILE = distributed.WORLD_FILE


class RunDirectory:
    """The run directory of one run, on every rank of a distributed run.

    ``run_dir`` is the directory on the rank that writes it and ``None``
    elsewhere (and for a run that writes nothing); ``path`` is the directory
    every rank reads a checkpoint from on resume.  Build one with
    :meth:`claim` (a new run), :meth:`reopen` (a resumed one) or
    :meth:`nowhere` (no files).
    """

    def __init__(self, dist: distributed.DistContext, path: Path | None, lock: RunLock | None,
                 files: Sequence[str]):
        self.dist = dist
        self.path = path
        self.lock = lock
        self.files = tuple(files)
        self.fingerprint: dict[str, Any] | None = None
        self._metrics_rows = 0  # lines of metrics.jsonl that match the history already saved
        self._replace_previous = False  # resumed --from-previous: the damaged newest file must not become the fallback

    # -- claiming -----------------------------------------------------------
    @classmethod
    def nowhere(cls, dist: distributed.DistContext | None = None) -> "RunDirectory":
        """An owner that writes nothing (``write_files=False``); its :meth:`save` still joins the ranks' collective."""
        return cls(dist or distributed.context("cpu"), None, None, ())

    @classmethod
    def claim(cls, owner: Any, run_dir: str | Path | None, *, dist: distributed.DistContext, files: Sequence[str],
              overwrite: bool = False, new_in: tuple[str | Path, str] | None = None) -> "RunDirectory":
        """Make ``owner`` the one writer of a new run in ``run_dir`` (rank 0 claims, its refusal reaches all ranks).

        A directory already holding a run is refused unless ``overwrite``, which deletes ``files`` first;
        without ``run_dir`` a new ``ROOT/<time>-LABEL`` is made, ``new_in`` giving ``(ROOT, LABEL)``.
        The claim is released when ``owner`` is collected.
        """
        lock = distributed.rank0_only(dist, lambda: claim(run_dir, True, overwrite, tuple(files), new_in))
        return cls._owned(owner, dist, None if lock is None else lock.run_dir, lock, files)

    @classmethod
    def reopen(cls, owner: Any, run_dir: str | Path, *, dist: distributed.DistContext,
               files: Sequence[str]) -> "RunDirectory":
        """Claim ``run_dir`` to continue the run in it (rank 0 claims; every rank reads it).

        The directory may be read-only when it only has to report a finished run.  Run files that are
        symbolic links become files of their own before anything is written.
        """
        run_dir = Path(run_dir)

        def claim_own() -> RunLock:
            lock = claim(run_dir, False, False, (), None)
            try:
                own_files(run_dir, files)
            except BaseException:
                lock.release()
                raise
            return lock

        lock = distributed.rank0_only(dist, claim_own)
        files_owner = cls._owned(owner, dist, run_dir, lock, files)
        return files_owner

    @classmethod
    def _owned(cls, owner: Any, dist, path, lock, files) -> "RunDirectory":
        made = cls(dist, path, lock, files)
        if lock is not None:
            weakref.finalize(owner, lock.release)
        return made

    @property
    def run_dir(self) -> Path | None:
        """The directory this process writes, or None (another rank writes it, or nothing is written)."""
        return self.path if self.lock is not None else None

    def release(self) -> None:
        """Give up the lock (done when the run returns its result)."""
        if self.lock is not None:
            self.lock.release()

    def abandon(self) -> None:
        """Release, and remove the directories the claim created: a run refused before it started leaves nothing."""
        if self.lock is not None:
            self.lock.abandon()

    # -- a new run ------------------------------------------------------------
    def start(self, record: Mapping[str, Any], fingerprint: Mapping[str, Any], sampling: str = "shared") -> None:
        """Write ``config.json`` (``record``) and, for a distributed run, ``distributed.json``.

        ``fingerprint`` identifies the run in each checkpoint, so another run's checkpoint is recognised.
        """
        self.fingerprint = plain(fingerprint)
        if self.run_dir is None:
            return
        atomic_write_json(self.run_dir / "config.json", record, "the configuration")
        if self.dist.active:
            atomic_write_json(self.run_dir / WORLD_FILE, {"world_size": self.dist.world_size,
                                                          "backend": self.dist.backend, "rank_sampling": sampling})

    def kept_checkpoint(self) -> str | None:
        """The checkpoint a diverged run can fall back to (for its error message)."""
        if self.run_dir is None or not (self.run_dir / CHECKPOINT).exists():
            return None
        return str(self.run_dir / CHECKPOINT)

    # -- each epoch -------------------------------------------------------------
    def save(self, state: Mapping[str, Any]) -> None:
        """Checkpoint ``state`` (a loop's ``state_dict()``, with ``history``) and append its new metrics lines.

        Every rank calls it: the process RNG states (torch, CUDA and each
        rank's) are gathered into rank 0's checkpoint.  The checkpoint comes
        first: after a kill between the two, resume cuts ``metrics.jsonl``
        back to the checkpoint's history, so no line is lost or duplicated.
        """
        if self.run_dir is None and not self.dist.active:
            return
        state = with_rng_states(dict(state), self.dist)  # collective: every rank
        if self.run_dir is None:
            return
        if self.fingerprint is not None:
            state["config"] = self.fingerprint
        save_checkpoint(self.run_dir / CHECKPOINT, state, keep_previous=not self._replace_previous)
        self._replace_previous = False
        history = state["history"]
        append_jsonl(self.run_dir / METRICS, history[self._metrics_rows:])
        self._metrics_rows = len(history)

    def finish(self, results: Mapping[str, Any]) -> None:
        """Write the result files (name -> JSON data; unchanged files are not rewritten) and release the lock."""
        if self.run_dir is not None:
            for name, data in results.items():
                write_json_if_changed(self.run_dir / name, data, f"the {Path(name).stem}")
        self.release()

    # -- resume ---------------------------------------------------------------
    @staticmethod
    def check_world(run_dir: str | Path, dist: distributed.DistContext) -> None:
        """Refuse to resume a run with another number of processes than it ran with.

        Each rank's shard of every batch, and with per-rank sampling its
        architecture stream, depend on the world size, so a resumed run
        continues the same run only with the same world.
        """
        recorded = recorded_world_size(run_dir)
        if recorded != dist.world_size:
            hint = f"nasplug resume {run_dir} --nproc {recorded}" if recorded > 1 else f"nasplug resume {run_dir}"
            raise ConfigError(f"run {str(run_dir)!r} ran with {recorded} process(es) and cannot resume "
                              f"with {dist.world_size}: the shards and sampling streams depend on the world size; "
                              f"run `{hint}`")

    def restore(self, loop: Any, *, what: str, fingerprints: Iterable[Mapping[str, Any]], device: Any = None,
                from_previous: bool = False, optimizer_params: Mapping[str, Sequence[torch.Tensor]] | None = None,
                check: Callable[[Mapping[str, Any]], str | None] | None = None,
                unverified_ok: bool = False) -> bool:
        """Load the run's last checkpoint (``checkpoint.prev.pt`` with ``from_previous``) into ``loop``.

        ``what`` names the run kind in errors ("a search"); ``fingerprints``
        are the identities this run accepts (the first is recorded from now
        on); ``loop.state_dict()`` is the template every field of the file is
        checked against before ``loop.load_state_dict`` sees it; ``check``
        adds the loop's own rules (returns what is wrong, or None).  Returns
        whether a checkpoint was loaded; a run with recorded epochs but no
        checkpoint is refused.  ``metrics.jsonl`` is cut back to the restored
        history.
        """
        fingerprints = [plain(f) for f in fingerprints]
        self.fingerprint = fingerprints[0] if fingerprints else None
        path = resume_checkpoint(self.path, from_previous)
        loaded = path.exists()
        if loaded:
            state = load_checkpoint(path, map_location=device, unverified_ok=unverified_ok)
            recorded = state.pop("config", None)
            if recorded is not None and fingerprints:
                differ = min((differing(recorded, f) for f in fingerprints), key=len)
                if differ:
                    raise RunDirError(f"{path}: written by another configuration than {self.path / 'config.json'} "
                                      f"(fields differ: {', '.join(differ)}); it belongs to a different run")
            template = loop.state_dict()
            problem = schema_problem(state, template, optimizer_params or {}) or (check(state) if check else None)
            if problem is not None:
                raise RunDirError(f"{path}: not {what} checkpoint of this run ({problem})")
            state = own_rng_states(state, self.dist)
            try:
                loop.load_state_dict(state)
            except KeyError as exc:
                raise RunDirError(f"{path}: not {what} checkpoint (it lacks {exc})") from None
            except (RuntimeError, ValueError, TypeError, IndexError, AttributeError, NasplugError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise RunDirError(f"{path}: does not fit this run's configuration ({type(exc).__name__}: "
                                  f"{first})") from None
            restore_rng_states(state)
            self._replace_previous = from_previous
            history = state["history"]
        else:
            history = []
            if recorded_rows(self.path / METRICS):
                raise RunDirError(f"{self.path / CHECKPOINT}: file not found, but {METRICS} records finished epochs; "
                                  f"the checkpoint was deleted (`--from-previous` uses {PREVIOUS_CHECKPOINT} if it "
                                  "exists)")
        if self.run_dir is not None:
            sync_jsonl(self.run_dir / METRICS, history)
        self._metrics_rows = len(history)
        return loaded


def holds_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a run to resume (its ``config.json`` is written first, before any checkpoint)."""
    return (Path(run_dir) / "config.json").exists()


def plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as plain JSON values (what a checkpoint records to recognise its run)."""
    return json.loads(json_text(dict(data)))


def differing(recorded: Any, current: Mapping[str, Any]) -> list[str]:
    """The fields both know whose values differ (a checkpoint of an older nasplug lacks newer fields)."""
    if not isinstance(recorded, Mapping):
        return ["config"]
    found = []
    for key in sorted(set(recorded) & set(current)):
        if recorded[key] == current[key]:
            continue
        nested = isinstance(recorded[key], Mapping) and isinstance(current[key], Mapping)
        found += [f"{key}.{inner}" for inner in differing(recorded[key], current[key])] if nested else [key]
    return found


def recorded_rows(path: Path) -> bool:
    """Whether a metrics file records any epoch (a damaged one counts: something was recorded)."""
    if not path.exists():
        return False
    try:
        return bool(read_jsonl(path))
    except RunDirError:
        return True


# -- what a checkpoint must hold -------------------------------------------------
def schema_problem(state: Mapping[str, Any], template: Mapping[str, Any],
                   optimizer_params: Mapping[str, Sequence[torch.Tensor]]) -> str | None:
    """What is wrong with ``state`` compared with the loop's own ``template`` (None when it fits).

    Every field the loop has must be there with the same kind of value:
    tensors with the same dtype and shape, numbers as numbers, flags as
    flags, lists as lists; ``epoch`` a whole number matching the history's
    length; optimizer buffers shaped like their parameters.  ``load_state_dict``
    would cast a float16 weight or accept a momentum buffer of another shape
    without a word, so these are checked here, before anything is loaded.
    """
    if not isinstance(state, Mapping):
        return f"it holds a {type(state).__name__}"
    for key in template:
        if key not in state:
            return f"it lacks {key!r}"
    epoch, history = state.get("epoch"), state.get("history")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        return f"'epoch' is {epoch!r}, not a whole number"
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        return "'history' is not a list of epoch records"
    if len(history) != epoch:
        return f"'epoch' is {epoch} but 'history' records {len(history)} epochs"
    for key in template:
        if key in ("epoch", "history"):
            continue
        problem = value_problem(state[key], template[key], key)
        if problem is not None:
            return problem
    for key, params in optimizer_params.items():
        problem = optimizer_problem(state[key], params, key)
        if problem is not None:
            return problem
    for key in ("torch_rng",):
        if key in state and not (isinstance(state[key], torch.Tensor) and state[key].dtype == torch.uint8):
            return f"{key!r} is not a random-generator state"
    return None


def value_problem(value: Any, template: Any, where: str) -> str | None:
    """The first way ``value`` differs in kind from ``template`` (recursing into shared keys and lists)."""
    if template is None:
        return None
    if isinstance(template, torch.Tensor):
        if not isinstance(value, torch.Tensor):
            return f"{where!r} is a {type(value).__name__}, not a tensor"
        if value.dtype != template.dtype or value.shape != template.shape:
            return (f"{where!r} is a {value.dtype} tensor of shape {tuple(value.shape)}, this run's is "
                    f"{template.dtype} {tuple(template.shape)}")
        return None
    if isinstance(template, bool):
        return None if isinstance(value, bool) else f"{where!r} is {value!r}, not true or false"
    if isinstance(template, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{where!r} is {value!r}, not a number"
        return None
    if isinstance(template, str):
        return None if isinstance(value, str) else f"{where!r} is {value!r}, not a string"
    if isinstance(template, Mapping):
        if not isinstance(value, Mapping):
            return f"{where!r} is a {type(value).__name__}, not a mapping"
        for key in template:
            if key in value:
                problem = value_problem(value[key], template[key], f"{where}.{key}")
                if problem is not None:
                    return problem
        return None
    if isinstance(template, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return f"{where!r} is a {type(value).__name__}, not a list"
        if template and len(value) == len(template):
            for k, (item, like) in enumerate(zip(value, template)):
                problem = value_problem(item, like, f"{where}[{k}]")
                if problem is not None:
                    return problem
    return None


def optimizer_problem(state: Any, params: Sequence[torch.Tensor], where: str) -> str | None:
    """A torch optimizer's saved buffers (momentum ...) must match their parameters' shapes and dtypes."""
    if not isinstance(state, Mapping) or not isinstance(state.get("state"), Mapping):
        return f"{where!r} is not an optimizer state"
    for index, buffers in state["state"].items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(params):
            return f"{where!r} holds a buffer for parameter {index!r}, this run has {len(params)}"
        if not isinstance(buffers, Mapping):
            return f"{where!r} parameter {index}: not a mapping of buffers"
        param = params[index]
        for name, buffer in buffers.items():
            if isinstance(buffer, torch.Tensor) and buffer.dim() > 0 and (
                    buffer.shape != param.shape or buffer.dtype != param.dtype):
                return (f"{where!r} {name} of parameter {index} is {buffer.dtype} {tuple(buffer.shape)}, the "
                        f"parameter is {param.dtype} {tuple(param.shape)}")
            if isinstance(buffer, torch.Tensor) and buffer.dim() == 0 and not math.isfinite(float(buffer)):
                return f"{where!r} {name} of parameter {index} is {float(buffer)}"
    return None


# -- random states: the process's, kept for every run kind ------------------------
def with_rng_states(state: dict[str, Any], dist: distributed.DistContext) -> dict[str, Any]:
    """Add the torch and CUDA RNG states, and in a distributed run every rank's (a collective call)."""
    state["torch_rng"] = torch.get_rng_state()
    state["cuda_rng"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    if dist.active:
        if "generator" in state:
            state["rank_generators"] = dist.gather_objects(state["generator"])
        state["rank_torch_rng"] = dist.gather_objects(state["torch_rng"])
        state["rank_cuda_rng"] = dist.gather_objects(state["cuda_rng"])
    return state


def own_rng_states(state: Mapping[str, Any], dist: distributed.DistContext) -> dict[str, Any]:
    """A checkpoint's RNG states as this rank saw them when it was written."""
    state = dict(state)
    if "rank_torch_rng" not in state:
        return state
    saved = len(state["rank_torch_rng"])
    if saved != dist.world_size:
        raise ConfigError(f"the checkpoint was written by {saved} ranks, this run has {dist.world_size}")
    state["torch_rng"] = state["rank_torch_rng"][dist.rank]
    if "rank_generators" in state:
        state["generator"] = state["rank_generators"][dist.rank]
    if "rank_cuda_rng" in state:
        state["cuda_rng"] = state["rank_cuda_rng"][dist.rank]
    return state


def restore_rng_states(state: Mapping[str, Any]) -> None:
    if state.get("torch_rng") is not None:
        torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])


# -- the files ---------------------------------------------------------------------
def own_files(run_dir: Path, files: Iterable[str]) -> None:
    """Replace each run file that is a symbolic link by a copy of what it points to.

    A copy made with ``cp -rs RUN COPY`` is a directory of links into RUN;
    resuming it would append to RUN's metrics and truncate them.  Replacing a
    link (atomically, by a file of the same content) makes the copy's files
    its own; a link in a directory that cannot be written is refused.
    """
    for name in (*files, WORLD_FILE):
        path = run_dir / name
        if not path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RunDirError(f"{path}: a symbolic link to {os.readlink(path)} that cannot be read "
                              f"({exc.strerror or exc}); a run directory's files must be its own") from None
        try:
            atomic_write_bytes(path, data, f"a copy of the linked {name}")
        except RunDirError as exc:
            raise RunDirError(f"{path}: a symbolic link to {os.readlink(path)}, and the directory cannot be "
                              f"written to replace it with a copy ({exc}); a run directory's files must be its "
                              "own") from None


def recorded_world_size(run_dir: str | Path) -> int:
    """The world size ``distributed.json`` records (1 without the file); a damaged file is a one-line error."""
    path = Path(run_dir) / WORLD_FILE
    if not path.exists():
        return 1
    data = read_json(path, "the distributed run's world size")
    size = data.get("world_size") if isinstance(data, dict) else None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        found = f"got {size!r}" if isinstance(data, dict) and "world_size" in data else "it has none"
        raise RunDirError(f"{path}: world_size must be a positive integer, {found}; the file was damaged "
                          "or edited")
    return size


def abandons_claim_on_error(init):
    """Decorate the ``__init__`` of a run directory's owner (it keeps a :class:`RunDirectory` as ``self.files``):
    when construction fails after the claim (a value refused late), the claim is abandoned, so the refused
    run leaves no empty directory behind (see :meth:`RunLock.abandon`)."""

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except BaseException:
            files = vars(self).get("files")
            if isinstance(files, RunDirectory):
                files.abandon()
            raise

    return wrapped
