"""Drills: kill, signal, fill the disk under, corrupt and race every kind of run the CLI has, and feed
every reader bad input; count the outcomes.

Each **fault trial** starts a run (search, resume, train, sweep local and Ray, ``--nproc 2``, TensorBoard
on), hurts it (``kill -9``, SIGTERM or SIGINT at a random moment, a file-size limit or a full tmpfs, a
second process on the same directory, a damaged checkpoint), then reruns or resumes it and compares the
result with the same run left alone.  Each **bad input** (a TOML field, a sweep table, a flag, a damaged
run-directory file) must end in one ``nasplug: error:`` line with exit 2.  Every process has a timeout.

Outcome classes: ``identical`` (the resumed or rerun result equals the uninterrupted one), ``one-line
error`` (refused in one ``nasplug:`` line, exit 2), ``silent wrong`` (exit 0 with a bad input, or a result
that differs), ``hang`` (past its timeout), ``traceback``.  A healthy tree has only the first two.

Most processes are forked from this warm process (torch and the plugins already imported), so a trial
costs its run, not interpreter start-up; Ray sweeps and ``--nproc 2`` runs are real subprocesses.
Results are appended to ``OUT/results.jsonl`` as trials finish, and a rerun skips the trials already
there, so a killed drill continues where it stopped.

    python benchmarks/drills.py --out drills-out            # the full drill (a while; 1 thread per process)
    python benchmarks/drills.py --out /tmp/d --small        # the CI-sized form (tests/test_drills.py)
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")
TINY = ["--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--data", "digits",
        "--batch-size", "32", "--threads", "1", "--eval-batches", "1"]
SEARCH = ["search", *TINY, "--strategy", "gdas", "--epochs", "3", "--steps-per-epoch", "4"]
TRAIN_FLAGS = ["--epochs", "3", "--batch-size", "32", "--threads", "1"]
TIMEOUT_S = 240.0
CLASSES = ("identical", "one-line error", "silent wrong", "hang", "traceback")
#: a longer search (a few seconds of epochs) for trials that act while the first process still runs
LONG = ["--epochs", "10", "--steps-per-epoch", "40"]
NOBODY = 65534


def image_search(root: Path | str, run_dir: Path, *extra: str) -> list:
    """A search on an image folder (``--data imagefolder``), as small as the digits searches."""
    return ["search", "--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--data", "imagefolder",
            "--data-option", f"root={root}", "--batch-size", "4", "--threads", "1", "--eval-batches", "1",
            "--strategy", "gdas", "--epochs", "2", "--steps-per-epoch", "2", "--run-dir", run_dir, "--quiet", *extra]


def write_images(root: Path, classes=("a", "b", "c"), per_class: int = 8, size: int = 8) -> Path:
    """A tiny ``root/<class>/<k>.png`` tree of seeded random RGB images (the drill's own, never shared data)."""
    import numpy as np
    from PIL import Image

    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(index)
        for k in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / name / f"{k}.png")
    return root


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG header (IHDR with correct CRCs) announcing ``width`` x ``height`` RGB pixels, a few bytes of
    image data: PIL refuses it as a decompression bomb on opening, before allocating anything."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


def files_of(folder: Path, with_lock: bool = False) -> dict[str, bytes]:
    """Every file under ``folder`` (what a symlink points to, read through it) by relative path; the lock file
    (the PID of the last process that held the run) only ``with_lock``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and (with_lock or p.name != ".lock")}


# -- running one command --------------------------------------------------------------------------------
class Proc:
    """A ``nasplug`` command forked from this process (or spawned), with its stderr in a file."""

    def __init__(self, argv: list[str], log: Path, spawn: bool = False, fsize: int | None = None,
                 cwd: Path | None = None, user: int | None = None):
        self.argv, self.log = [str(a) for a in argv], log
        self.started = time.time()
        if spawn:
            def limits():
                if fsize is not None:
                    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            with open(log, "wb") as err:
                self.popen = subprocess.Popen([sys.executable, "-m", "nasplug", *self.argv], stdout=subprocess.DEVNULL,
                                              stderr=err, preexec_fn=limits, cwd=cwd, start_new_session=True)
            self.pid = self.popen.pid
            return
        self.popen = None
        pid = os.fork()
        if pid == 0:  # the child: become `nasplug ARGV`
            status = 70
            try:
                os.setpgid(0, 0)
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 2)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                if cwd is not None:
                    os.chdir(cwd)
                if fsize is not None:
                    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
                if user is not None:  # an unprivileged user, for whom permissions hold (root ignores them)
                    os.setgroups([])
                    os.setgid(user)
                    os.setuid(user)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                from nasplug.cli import main

                status = main(self.argv)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - an escaped exception is a traceback outcome
                import traceback

                traceback.print_exc()
                status = 1
            finally:
                sys.stderr.flush()
                os._exit(status if isinstance(status, int) else 1)
        self.pid = pid

    def signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = TIMEOUT_S) -> int | None:
        """Exit status (128+N for a signal), or None after killing a process that ran past ``timeout``."""
        deadline = self.started + timeout
        while True:
            if self.popen is not None:
                code = self.popen.poll()
                if code is not None:
                    return 128 - code if code < 0 else code
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            if time.time() > deadline:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self.signal(signal.SIGKILL)
                if self.popen is not None:
                    self.popen.wait()
                else:
                    os.waitpid(self.pid, 0)
                return None
            time.sleep(0.02)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def running(self) -> bool:
        """Whether the process has not exited yet (without reaping it: :meth:`wait` still can)."""
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False


def run(argv, log: Path, timeout: float = TIMEOUT_S, **kwargs) -> tuple[int | None, str]:
    proc = Proc(argv, log, **kwargs)
    return proc.wait(timeout), proc.stderr()


def lines_of(err: str) -> list[str]:
    """nasplug's own lines: without argparse's usage (and its indented continuation lines) and without the
    lines Ray and torch's launcher print themselves (warnings with timestamps)."""
    return [line for line in err.splitlines() if line.strip() and not line[0].isspace()
            and not re.match(r"^(usage:|\[\d{4}-|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(WARNING|INFO)|\(raylet\)|W\d{4}|"
                                 r"\*{5}|Setting OMP)", line)]


def is_traceback(err: str) -> bool:
    return "Traceback (most recent call last)" in err or "Segmentation fault" in err


class Expect:
    """What a bad input's ``make`` returns when a one-line error is not enough: the argv, a pattern the line
    must match (the file or field the case is about: refused for another reason, the case tested nothing),
    the user to run it as, and a ``check()`` run afterwards that returns what is wrong (e.g. a file the
    refused command changed), or None."""

    def __init__(self, argv: list, needle: str | None = None, user: int | None = None,
                 check: Callable[[], str | None] | None = None):
        self.argv, self.needle, self.user, self.check = argv, needle, user, check


# -- comparing results ------------------------------------------------------------------------------------
TIMING = re.compile(r"seconds|time|wall")


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items()
                if not TIMING.search(k) and k not in ("provenance", "run_dir")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def search_result(run_dir: Path) -> Any:
    """What must not change when a run is killed and resumed: the genotype and every epoch's numbers."""
    try:
        genotype = json.loads((run_dir / "genotype.json").read_text())
        history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    except (OSError, ValueError):
        return None
    return _untimed({"genotype": genotype, "history": history})


def train_result(run_dir: Path) -> Any:
    try:
        return _untimed(json.loads((run_dir / "result.json").read_text()))
    except (OSError, ValueError):
        return None


def sweep_result(root: Path) -> Any:
    try:
        rows = json.loads((root / "summary.json").read_text())["trials"]
    except (OSError, ValueError, KeyError):
        return None
    return sorted(json.dumps(_untimed({k: v for k, v in r.items() if not k.endswith("_dir") and k not in (
        "skipped", "search_resumed_at_epoch", "train_resumed_at_epoch")}), sort_keys=True) for r in rows)


# -- the drill ----------------------------------------------------------------------------------------------
class Drill:
    def __init__(self, out: Path, small: bool, seed: int):
        self.out = out
        self.small = small
        self.rng = random.Random(seed)
        self.work = out / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.results_path = out / "results.jsonl"
        self.done = {}
        if self.results_path.exists():
            for line in self.results_path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line torn by a kill of the drill itself
                self.done[row["id"]] = row
        self.references: dict[str, Any] = {}
        self.surface_now = ""  # the surface of the trial running (recorded with its row)

    # bookkeeping
    def record(self, kind: str, trial_id: str, surface: str, outcome: str, detail: str = "") -> None:
        surface = surface or self.surface_now
        row = {"id": trial_id, "kind": kind, "surface": surface, "outcome": outcome, "detail": detail[-400:]}
        self.done[trial_id] = row
        with open(self.results_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        mark = "" if outcome in ("identical", "one-line error") else "   <-- " + detail[-300:].replace("\n", " | ")
        print(f"[{len(self.done):4d}] {kind:5s} {surface:28s} {trial_id:48s} {outcome}{mark}", flush=True)

    def fresh(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    # references
    def reference(self, key: str, make: Callable[[Path], Any]) -> Any:
        if key not in self.references:
            import hashlib

            commands = json.dumps([SEARCH, TRAIN_FLAGS]).encode()  # a changed command needs a new reference
            cache = self.out / f"reference-{key}-{hashlib.sha256(commands).hexdigest()[:8]}.json"
            if cache.exists():
                self.references[key] = json.loads(cache.read_text())
            else:
                value = make(self.fresh(f"ref-{key}"))
                if value is None:
                    raise SystemExit(f"drills: the uninterrupted {key} run failed; see {self.work}/ref-{key}")
                cache.write_text(json.dumps(value))
                self.references[key] = json.loads(json.dumps(value))
        return self.references[key]

    def ref_search(self, extra=(), spawn=False) -> Any:
        key = "search" + "".join(extra).replace("-", "").replace(" ", "")

        def make(where: Path):
            status, err = run([*SEARCH, *extra, "--run-dir", where / "r", "--quiet"], where / "err", spawn=spawn)
            return search_result(where / "r") if status == 0 else None
        return self.reference(key, make)

    def finished_search(self) -> Path:
        where = self.work / "base-run"
        if not (where / "r" / "genotype.json").exists():
            where = self.fresh("base-run")
            status, err = run([*SEARCH, "--run-dir", where / "r", "--quiet"], where / "err")
            assert status == 0, err
        return where / "r"

    # one outcome from a finished sequence of commands
    def judge(self, steps: list[tuple[int | None, str]], result: Any, reference: Any) -> tuple[str, str]:
        for status, err in steps:
            if status is None:
                return "hang", err
            if is_traceback(err):
                return "traceback", err
            if status not in (0, 2, 130, 143) and status != 137:
                return "traceback", f"exit {status}: {err[-300:]}"
            # one `nasplug:` line (a sweep's progress lines, `sweep ...` and `[k/n] ...`, go to stderr too)
            if status in (2, 130, 143) and len([x for x in lines_of(err) if x.startswith("nasplug:")]) != 1:
                return "traceback", f"exit {status} without one line: {err[-300:]}"
        if result is None or result != reference:
            return "silent wrong", f"result differs from the uninterrupted run: {str(result)[:200]}"
        return "identical", ""

    # -- fault trials --------------------------------------------------------------------------------
    def fault_trials(self) -> list[tuple[str, str, Callable[[str], None]]]:
        """(id, surface, run) for every fault trial of this drill."""
        n = (lambda full, small: small if self.small else full)
        trials = []
        for k in range(n(36, 1)):
            trials.append((f"search-kill9-{k}", "search kill -9", lambda i, k=k: self.search_fault(i, signal.SIGKILL)))
        for k in range(n(24, 1)):
            trials.append((f"search-term-{k}", "search SIGTERM", lambda i: self.search_fault(i, signal.SIGTERM)))
        for k in range(n(16, 0)):
            trials.append((f"search-int-{k}", "search SIGINT", lambda i: self.search_fault(i, signal.SIGINT)))
        for k in range(n(14, 0)):
            trials.append((f"resume-twice-{k}", "resume killed again", lambda i: self.search_fault(
                i, signal.SIGKILL, again=True)))
        for k in range(n(12, 1)):
            trials.append((f"search-tb-{k}", "search TensorBoard kill", lambda i: self.search_fault(
                i, self.rng.choice([signal.SIGKILL, signal.SIGTERM]), tensorboard=True)))
        for k in range(n(16, 1)):
            trials.append((f"train-{k}", "train kill/signal", lambda i: self.train_fault(i)))
        for k in range(n(16, 1)):
            trials.append((f"disk-fsize-{k}", "disk full (RLIMIT_FSIZE)", lambda i: self.disk_fault(i)))
        for k in range(n(6, 0)):
            trials.append((f"disk-tmpfs-{k}", "disk full (tmpfs) + TB", lambda i: self.tmpfs_fault(i)))
        for k in range(n(8, 1)):
            trials.append((f"race-{k}", "two processes, one dir", lambda i: self.race(i)))
        for k in range(n(6, 0)):
            trials.append((f"corrupt-ckpt-{k}", "damaged checkpoint", lambda i: self.corrupt_checkpoint(i)))
        for k in range(n(8, 1)):
            trials.append((f"sweep-local-{k}", "sweep local kill", lambda i: self.sweep_fault(i, "local")))
        for k in range(n(4, 0)):
            trials.append((f"sweep-ray-{k}", "sweep ray kill driver", lambda i: self.sweep_fault(i, "ray")))
        for k in range(n(8, 0)):
            trials.append((f"nproc2-{k}", "--nproc 2 kill/signal", lambda i: self.nproc_fault(i)))
        for k in range(n(8, 1)):
            trials.append((f"lock-deleted-{k}", "lock deleted", lambda i, k=k: self.lock_deleted(
                i, ("delete", "empty", "dead-pid", "delete-overwrite")[k % 4])))
        for k in range(n(8, 1)):
            trials.append((f"symlink-copy-{k}", "run dir symlinks", lambda i, k=k: self.symlink_copy(
                i, ("kill", "kill", "term", "kill", "finished", "kill", "term", "kill-twice")[k % 8])))
        for k in range(n(2, 0)):
            trials.append((f"unverified-accepted-{k}", "crafted checkpoint", lambda i: self.unverified_accepted(i)))
        for k in range(n(4, 1)):
            trials.append((f"imagefolder-skips-{k}", "image folder", lambda i, k=k: self.image_folder_skips(i, k)))
        # round robin over the surfaces: a drill stopped early has still drilled every kind of run
        by_surface: dict[str, list] = {}
        for trial in trials:
            by_surface.setdefault(trial[1], []).append(trial)
        return [t for group in itertools.zip_longest(*by_surface.values()) for t in group if t is not None]

    def _kill_at_random(self, argv, where: Path, signum: int, window: tuple[float, float], **kwargs):
        proc = Proc(argv, where / "err-1", **kwargs)
        self.moment = self.rng.uniform(*window)
        time.sleep(self.moment)
        proc.signal(signum)
        return proc.wait(), proc.stderr()

    def search_fault(self, trial_id: str, signum: int, again: bool = False, tensorboard: bool = False) -> None:
        reference = self.ref_search()
        where = self.fresh(trial_id)
        board = ["--tensorboard", where / "tb"] if tensorboard else []
        first = self._kill_at_random([*SEARCH, "--run-dir", where / "r", "--quiet", *board], where, signum, (0.2, 5.0))
        steps = [first] if signum != signal.SIGKILL else [(first[0] if first[0] is None else 0, "")]
        if again and (where / "r" / "config.json").exists():
            steps.append(self._kill_at_random(["resume", where / "r", "--quiet", *board], where, signal.SIGKILL,
                                              (0.2, 3.0)))
            steps[-1] = (steps[-1][0] if steps[-1][0] is None else 0, "")
        if (where / "r" / "config.json").exists():
            steps.append(run(["resume", where / "r", "--quiet", *board], where / "err-2"))
        else:  # killed before the run directory held anything: start it again
            steps.append(run([*SEARCH, "--run-dir", where / "r", "--quiet", "--overwrite", *board], where / "err-2"))
        if steps[-1][0] == 2 and "checkpoint" in steps[-1][1] and "from-previous" in steps[-1][1]:
            steps.append(run(["resume", where / "r", "--quiet", "--from-previous"], where / "err-3"))
        self.record("fault", trial_id, "", *self.judge(steps, search_result(where / "r"), reference))

    def train_fault(self, trial_id: str) -> None:
        genotype = self.finished_search() / "genotype.json"

        def make(w: Path):
            status, err = run(["train", genotype, *TRAIN_FLAGS, "--run-dir", w / "t", "--quiet"], w / "err")
            return train_result(w / "t") if status == 0 else None
        reference = self.reference("train", make)
        where = self.fresh(trial_id)
        signum = self.rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
        first = self._kill_at_random(["train", genotype, *TRAIN_FLAGS, "--run-dir", where / "t", "--quiet"], where,
                                     signum, (0.2, 5.0))
        steps = [first] if signum != signal.SIGKILL else [(first[0] if first[0] is None else 0, "")]
        if (where / "t" / "config.json").exists():
            steps.append(run(["resume", where / "t", "--quiet"], where / "err-2"))
        else:
            steps.append(run(["train", genotype, *TRAIN_FLAGS, "--run-dir", where / "t", "--quiet", "--overwrite"],
                             where / "err-2"))
        self.record("fault", trial_id, "", *self.judge(steps, train_result(where / "t"), reference))

    def disk_fault(self, trial_id: str) -> None:
        """A file-size limit the checkpoint or the metrics hit: one line, then a resume without it."""
        reference = self.ref_search()
        where = self.fresh(trial_id)
        # (under 2,000 bytes the limit would cut off the drill's own stderr file, not only the run's files)
        limit = self.rng.choice([2_000, 20_000, 50_000, 200_000, 270_000, 300_000])
        first = run([*SEARCH, "--run-dir", where / "r", "--quiet"], where / "err-1", fsize=limit)
        steps = [first]
        if first[0] == 0:
            pass
        elif (where / "r" / "config.json").exists():
            steps.append(run(["resume", where / "r", "--quiet"], where / "err-2"))
        else:
            steps.append(run([*SEARCH, "--run-dir", where / "r", "--quiet", "--overwrite"], where / "err-2"))
        self.record("fault", trial_id, "", *self.judge(steps, search_result(where / "r"), reference))

    def tmpfs_fault(self, trial_id: str) -> None:
        """TensorBoard (or the run directory) on a tmpfs that fills up mid-run."""
        reference = self.ref_search()
        where = self.fresh(trial_id)
        mount = where / "small"
        mount.mkdir()
        size = self.rng.choice(["16k", "64k", "600k"])
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True).returncode != 0:
            self.record("fault", trial_id, "", "identical", "skipped: cannot mount a tmpfs here (needs root)")
            return
        try:
            on_tmpfs = self.rng.random() < 0.5
            run_dir = mount / "r" if on_tmpfs else where / "r"
            board = where / "tb" if on_tmpfs else mount / "tb"
            steps = [run([*SEARCH, "--run-dir", run_dir, "--quiet", "--tensorboard", board], where / "err-1")]
            if steps[0][0] == 0 and not on_tmpfs:
                err = steps[0][1]
                if err.strip() and "TensorBoard logging is off" not in err:
                    steps[0] = (1, err)
                steps[0] = (steps[0][0], "")  # a warning line with exit 0 is the documented behaviour
            if on_tmpfs and steps[0][0] != 0:  # move the run to a disk with room, as a user would, and resume
                if (run_dir / "config.json").exists():
                    shutil.copytree(run_dir, where / "r", ignore=shutil.ignore_patterns(".lock", ".*tmp*"))
                    steps.append(run(["resume", where / "r", "--quiet"], where / "err-2"))
                else:
                    steps.append(run([*SEARCH, "--run-dir", where / "r", "--quiet"], where / "err-2"))
            # a run that fitted on the tmpfs finished there; one that did not was moved to where/r and resumed
            finished = run_dir if on_tmpfs and steps[0][0] == 0 else where / "r"
            self.record("fault", trial_id, "", *self.judge(steps, search_result(finished), reference))
        finally:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)

    def race(self, trial_id: str) -> None:
        """Two processes on one directory: one runs, the other is refused in one line."""
        reference = self.ref_search()
        where = self.fresh(trial_id)
        command = [*SEARCH, "--run-dir", where / "r", "--quiet"]
        first = Proc(command, where / "err-1")
        time.sleep(self.rng.uniform(0.0, 3.0))
        second = Proc(["resume", where / "r", "--quiet"] if (where / "r" / "config.json").exists() else
                      [*command, "--overwrite"], where / "err-2")
        steps = [(first.wait(), first.stderr()), (second.wait(), second.stderr())]
        if not any(status == 0 for status, _ in steps):
            steps.append(run(["resume", where / "r", "--quiet"], where / "err-3"))
        self.record("fault", trial_id, "", *self.judge(steps, search_result(where / "r"), reference))

    def corrupt_checkpoint(self, trial_id: str) -> None:
        """Kill, damage the newest checkpoint, then: one line naming it, and --from-previous continues."""
        reference = self.ref_search()
        where = self.fresh(trial_id)
        steps = [self._kill_at_random([*SEARCH, "--run-dir", where / "r", "--quiet"], where, signal.SIGKILL,
                                      (3.0, 8.0))]
        steps[0] = (steps[0][0] if steps[0][0] is None else 0, "")
        checkpoint = where / "r" / "checkpoint.pt"
        if checkpoint.exists() and (where / "r" / "checkpoint.prev.pt").exists():
            data = checkpoint.read_bytes()
            cut = self.rng.randrange(1, max(2, len(data)))
            checkpoint.write_bytes(data[:cut] if self.rng.random() < 0.5 else data[:cut] + b"\0" * 64)
            damaged = run(["resume", where / "r", "--quiet"], where / "err-2")
            steps.append(damaged)  # refused in one line, or (bytes after the end) read intact: the result tells
            if damaged[0] == 2:
                steps.append(run(["resume", where / "r", "--quiet", "--from-previous"], where / "err-3"))
        elif (where / "r" / "config.json").exists():
            steps.append(run(["resume", where / "r", "--quiet"], where / "err-3"))
        else:
            steps.append(run([*SEARCH, "--run-dir", where / "r", "--quiet", "--overwrite"], where / "err-3"))
        self.record("fault", trial_id, "", *self.judge(steps, search_result(where / "r"), reference))

    def lock_deleted(self, trial_id: str, how: str) -> None:
        """``rm DIR/.lock`` (or the file replaced) while a search runs, then a second writer: it must be refused
        in one line (the lock is on the directory), and the first must finish as if left alone."""
        reference = self.ref_search(LONG)
        for attempt in range(3):
            where = self.fresh(trial_id)
            run_dir = where / "r"
            argv = [*SEARCH, *LONG, "--run-dir", run_dir, "--quiet"]
            first = Proc(argv, where / "err-1")
            deadline = time.time() + 120
            while not (run_dir / "config.json").exists() and first.running() and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(self.rng.uniform(0.0, 2.0) / (attempt + 1))
            lock = run_dir / ".lock"
            lock.unlink(missing_ok=True)
            if how == "empty":
                lock.write_text("")
            elif how == "dead-pid":
                lock.write_text("999999\n")
            second_argv = [*argv, "--overwrite"] if how == "delete-overwrite" else ["resume", run_dir, "--quiet"]
            was_running = first.running()
            second = run(second_argv, where / "err-2")
            still_running = first.running()
            steps = [(first.wait(), first.stderr()), second]
            if was_running and still_running or attempt == 2:
                break  # (else the first had finished before the second came: not this trial; again, sooner)
        if not (was_running and still_running):
            self.record("fault", trial_id, "", "identical", "skipped: the search finished before the second process")
            return
        outcome, detail = self.judge(steps, search_result(run_dir), reference)
        if second[0] != 2 or not re.search(r"is in use by", " ".join(lines_of(second[1]))):
            outcome, detail = "silent wrong", f"a second writer was not refused (exit {second[0]}): {second[1]}"
        elif outcome == "identical":
            rows = (run_dir / "metrics.jsonl").read_text().splitlines()
            if len(rows) != 10:
                outcome, detail = "silent wrong", f"metrics.jsonl has {len(rows)} lines for 10 epochs"
        self.record("fault", trial_id, "", outcome, detail)

    def unverified_accepted(self, trial_id: str) -> None:
        """The pre-digest format (no ``sha256``, no ``config``) is refused, and resumed with
        ``--accept-unverified``: from ``checkpoint.prev.pt`` (epoch 2) the run ends as the uninterrupted one."""
        import torch

        reference = self.ref_search()
        where = self.fresh(trial_id)
        run_dir = where / "r"
        shutil.copytree(self.finished_search(), run_dir, ignore=shutil.ignore_patterns(".lock"))
        state = torch.load(run_dir / "checkpoint.prev.pt", weights_only=True)
        state.pop("sha256")
        state.pop("config")
        torch.save(state, run_dir / "checkpoint.prev.pt")
        refused = run(["resume", run_dir, "--quiet", "--from-previous"], where / "err-1")
        steps = [refused, run(["resume", run_dir, "--quiet", "--from-previous", "--accept-unverified"],
                              where / "err-2")]
        outcome, detail = self.judge(steps, search_result(run_dir), reference)
        if refused[0] != 2 or "carries no checksum" not in refused[1]:
            outcome, detail = "silent wrong", f"the unverified checkpoint was not refused first: {refused}"
        self.record("fault", trial_id, "", outcome, detail)

    def symlink_copy(self, trial_id: str, how: str) -> None:
        """``cp -rs RUN COPY`` of a killed, stopped or finished search, then ``nasplug resume COPY``: the copy's
        files become its own (README, "Copies and symlinks") and it ends as the uninterrupted run did; RUN is
        byte for byte as before (its lock file too), no run file of COPY is still a link, and RUN itself then
        resumes to the same result."""
        reference = self.ref_search(LONG)
        where = self.fresh(trial_id)
        original, copy = where / "r", where / "copy"
        argv = [*SEARCH, *LONG, "--run-dir", original, "--quiet"]
        steps = []

        def hurt(command: list, log: Path, epoch: int, signum: int) -> None:
            """Start ``command``, and send ``signum`` once ``epoch`` epochs are recorded (a mid-way copy)."""
            proc = Proc(command, log)
            deadline = time.time() + 120
            while proc.running() and time.time() < deadline:
                try:
                    if len((original / "metrics.jsonl").read_bytes().splitlines()) >= epoch:
                        break
                except OSError:
                    pass
                time.sleep(0.01)
            time.sleep(self.rng.uniform(0.0, 0.2))
            proc.signal(signum)
            status = proc.wait()
            steps.append((status, proc.stderr()) if signum != signal.SIGKILL else (status if status is None else 0, ""))

        if how == "finished":
            steps.append(run(argv, where / "err-1"))
        else:
            epoch = self.rng.randint(1, 7)
            hurt(argv, where / "err-1", epoch, signal.SIGTERM if how == "term" else signal.SIGKILL)
            if how == "kill-twice":
                hurt(["resume", original, "--quiet"], where / "err-1b", epoch + 1, signal.SIGKILL)
        before = files_of(original, with_lock=True)
        done = subprocess.run(["cp", "-rs", str(original), str(copy)], capture_output=True, text=True)
        if done.returncode != 0:
            self.record("fault", trial_id, "", "traceback", f"drill error: cp -rs: {done.stderr}")
            return
        steps.append(run(["resume", copy, "--quiet"], where / "err-2"))
        outcome, detail = self.judge(steps, search_result(copy), reference)
        if outcome == "identical":
            linked = [p.name for p in copy.iterdir() if p.is_symlink() and p.name not in (".lock",)]
            changed = sorted(k for k in set(before) | set(files_of(original, with_lock=True))
                             if before.get(k) != files_of(original, with_lock=True).get(k))
            if changed:
                outcome, detail = "silent wrong", f"resuming the copy changed the original's {changed}"
            elif linked:
                outcome, detail = "silent wrong", f"the resumed copy still links {linked} to the original"
            else:  # and the original, untouched, still resumes to the same result
                again = run(["resume", original, "--quiet"], where / "err-3")
                outcome, detail = self.judge([again], search_result(original), reference)
                detail = ("the original after the copy: " + detail) if detail else \
                    f"copied at {len(before.get('metrics.jsonl', b'').splitlines())} of 10 epochs"
        self.record("fault", trial_id, "", outcome, detail)

    def image_folder_skips(self, trial_id: str, k: int) -> None:
        """What the scan skips by design (files without an image suffix, files beside the class folders, empty
        sub-folders) changes nothing, and an image linked inside the folder is the same as a copy of it: the
        search equals the one on the clean folder."""
        def make(w: Path):
            status, err = run(image_search(write_images(w / "imgs"), w / "r"), w / "err")
            return search_result(w / "r") if status == 0 else None
        reference = self.reference("imagefolder", make)
        where = self.fresh(trial_id)
        root = write_images(where / "imgs")
        if k % 4 == 0:
            (root / "a" / "notes.txt").write_text("not an image")
            (root / "b" / "Thumbs.db").write_bytes(b"\0" * 64)
            (root / "c" / "0.png.bak").write_bytes(b"junk")
        elif k % 4 == 1:
            (root / "README.md").write_text("a file beside the class folders is not a class")
            (root / ".DS_Store").write_bytes(b"\0" * 64)
        elif k % 4 == 2:
            (root / "b" / "empty").mkdir()
            (root / "c" / "deeper" / "empty").mkdir(parents=True)
        else:  # one image moved beside the class folders (not scanned there) and linked back (inside: allowed)
            os.replace(root / "a" / "3.png", root / "a-3.png")
            os.symlink("../a-3.png", root / "a" / "3.png")
        status, err = run(image_search(root, where / "r"), where / "err")
        outcome, detail = self.judge([(status, err)], search_result(where / "r"), reference)
        if outcome == "identical" and status != 0:
            outcome, detail = "silent wrong", f"refused a folder it should read: {err}"
        self.record("fault", trial_id, "", outcome, detail)

    def _sweep_file(self, where: Path, root: Path) -> Path:
        path = where / "sweep.toml"
        path.write_text(f'[sweep]\nroot = "{root}"\nnum_cpus = 1\n[search]\nspace = "nb201"\ndata = "digits"\n'
                        'epochs = 2\nsteps_per_epoch = 4\nbatch_size = 32\neval_batches = 1\n'
                        'space_options = {C = 4, N = 1}\n[grid]\nstrategy = ["gdas", "random"]\nseed = [0, 1]\n'
                        '[train]\nepochs = 1\nbatch_size = 32\n')
        return path

    def sweep_fault(self, trial_id: str, executor: str) -> None:
        spawn = executor == "ray"

        def make(w: Path):
            status, err = run(["sweep", self._sweep_file(w, w / "root"), "--executor", "local"], w / "err")
            return sweep_result(w / "root") if status == 0 else None
        reference = self.reference("sweep", make)
        where = self.fresh(trial_id)
        sweep = self._sweep_file(where, where / "root")
        argv = ["sweep", sweep, "--executor", executor] + (["--num-cpus", "2"] if spawn else [])
        signum = self.rng.choice([signal.SIGKILL, signal.SIGTERM])
        first = self._kill_at_random(argv, where, signum, (1.0, 25.0) if spawn else (0.3, 12.0), spawn=spawn)
        steps = [first] if signum != signal.SIGKILL else [(first[0] if first[0] is None else 0, "")]
        if spawn and signum == signal.SIGKILL:
            time.sleep(3.0)  # the trial workers notice their driver is gone (they watch it) and stop
        steps.append(run(argv, where / "err-2", spawn=spawn, timeout=600))
        self.record("fault", trial_id, "", *self.judge(steps, sweep_result(where / "root"), reference))

    def nproc_fault(self, trial_id: str) -> None:
        reference = self.ref_search(["--nproc", "2"], spawn=True)
        where = self.fresh(trial_id)
        argv = [*SEARCH, "--nproc", "2", "--run-dir", where / "r", "--quiet"]
        signum = self.rng.choice([signal.SIGKILL, signal.SIGTERM])
        first = self._kill_at_random(argv, where, signum, (3.0, 20.0), spawn=True)
        if signum == signal.SIGKILL:  # the launcher is gone: its ranks notice and stop (no orphans)
            first = (first[0] if first[0] is None else 0, "")
            time.sleep(5.0)
        steps = [first]
        if (where / "r" / "config.json").exists():
            steps.append(run(["resume", where / "r", "--nproc", "2", "--quiet"], where / "err-2", spawn=True))
        else:
            steps.append(run([*argv, "--overwrite"], where / "err-2", spawn=True))
        outcome, detail = self.judge(steps, search_result(where / "r"), reference)
        self.record("fault", trial_id, "", outcome, f"{signum.name} at {self.moment:.1f} s, exits "
                    f"{[status for status, _ in steps]}; {detail}" if detail else "")

    # -- bad inputs ----------------------------------------------------------------------------------
    def bad_inputs(self) -> list[tuple[str, str, Callable[[Path], list[str]]]]:
        """(id, surface, make argv in a fresh folder) for every bad input; each must be a one-line error."""
        from nasplug.config import SearchConfig, TrainConfig

        cases = []
        pool = {"nan": "nan", "inf": "inf", "-inf": "-inf", "1e308": "1e308", "-1": "-1", "empty": '""',
                "date": "1979-05-27", "deep": "[" * 5000 + "]" * 5000, "list3": "[1, 2, 3]"}
        if self.small:
            pool = {k: pool[k] for k in ("nan", "date", "deep")}
        search_base = {"space": '"nb201"', "data": '"digits"', "epochs": "1", "steps_per_epoch": "1",
                       "batch_size": "32", "eval_batches": "1", "threads": "1", "space_options": "{C = 4, N = 1}"}
        fields = [f.name for f in SearchConfig.__attrs_attrs__]
        for field, (label, value) in itertools.product(fields[:6] if self.small else fields, pool.items()):
            def make(w, field=field, value=value):
                body = {**search_base, field: value}
                (w / "c.toml").write_text("".join(f"{k} = {v}\n" for k, v in body.items()))
                return ["search", "--config", w / "c.toml", "--run-dir", w / "r", "--quiet"]
            cases.append((f"search-toml-{field}-{label}", "search TOML field", make))
        train_fields = [f.name for f in TrainConfig.__attrs_attrs__]
        for field, (label, value) in itertools.product(train_fields[:4] if self.small else train_fields, pool.items()):
            def make(w, field=field, value=value):
                body = {"epochs": "1", "batch_size": "32", "threads": "1", field: value}
                (w / "c.toml").write_text("[train]\n" + "".join(f"{k} = {v}\n" for k, v in body.items()))
                return ["train", self.finished_search() / "genotype.json", "--config", w / "c.toml",
                        "--run-dir", w / "t", "--quiet"]
            cases.append((f"train-toml-{field}-{label}", "train TOML field", make))
        sweep_texts = {
            "search-scalar": "search = 5", "grid-scalar": "grid = 5", "train-scalar": "train = 5",
            "sweep-scalar": "sweep = 5", "root-5": "[sweep]\nroot = 5", "root-empty": '[sweep]\nroot = ""',
            "root-file": '[sweep]\nroot = "/etc/hostname"', "dotted": '[grid]\n"epochs.x" = [1]',
            "dotted-empty": '[grid]\n"space_options." = [1]', "grid-scalar-value": "[grid]\nseed = 3",
            "grid-empty-list": "[grid]\nseed = []", "grid-unknown": "[grid]\nsede = [1]",
            "date": "[search]\nepochs = 1979-05-27", "time": "[search]\nepochs = 07:32:00",
            "w_lr": "[search]\nw_lr = 1e308", "num_cpus-inf": "[sweep]\nnum_cpus = inf",
            "num_cpus-nan": "[sweep]\nnum_cpus = nan", "num_cpus-big": "[sweep]\nnum_cpus = 1e300",
            "num_cpus-neg": "[sweep]\nnum_cpus = -1", "num_gpus-str": '[sweep]\nnum_gpus = "1"',
            "retrain-yes": '[sweep]\nretrain = "yes"', "unknown-table": "[bogus]\nx = 1",
            "unknown-key": "[sweep]\nbogus = 1", "train-bad": "[train]\nepochs = 0",
            "train-unknown": "[train]\nbogus = 1", "sbn-yes": '[search]\nsync_batchnorm = "yes"',
            "huge-grid": "[grid]\nseed = [%s]\nepochs = [%s]\nbatch_size = [%s]" % ((",".join(
                map(str, range(1, 1001))),) * 3),
            "deep": "[search]\nspace_options = {C = " + "[" * 100_000 + "]" * 100_000 + "}",
            "not-toml": "[search\nepochs = 1", "search-unknown": "[search]\nbogus = 1",
        }
        if self.small:
            sweep_texts = {k: sweep_texts[k] for k in ("search-scalar", "root-empty", "huge-grid", "deep")}
        for label, text in sweep_texts.items():
            def make(w, text=text):
                (w / "s.toml").write_text(text + "\n")
                return ["sweep", w / "s.toml", "--executor", "local", "--root", w / "out"] \
                    if "root" not in text else ["sweep", w / "s.toml", "--executor", "local"]
            cases.append((f"sweep-{label}", "sweep TOML", make))
        for label, data in {"utf8": b"[search]\nspace = \"\xff\"\n", "binary": b"\x80\x00\x81"}.items():
            for command in ("sweep", "search"):
                def make(w, data=data, command=command):
                    (w / "x.toml").write_bytes(data)
                    return ["sweep", w / "x.toml", "--executor", "local"] if command == "sweep" else \
                        ["search", "--config", w / "x.toml", "--run-dir", w / "r"]
                cases.append((f"{command}-{label}", f"{command} file bytes", make))
        cases.append(("sweep-dir", "sweep file path", lambda w: ["sweep", w, "--executor", "local"]))
        cases.append(("search-config-dir", "search file path", lambda w: ["search", "--config", w]))
        cases.append(("sweep-missing", "sweep file path", lambda w: ["sweep", w / "none.toml"]))
        flag_values = {
            "--w-lr": ["-inf", "nan", "inf", "1e308", "-1e-3", "0"], "--arch-lr": ["-inf", "nan", "1e308"],
            "--epochs": ["0", "-1", "1e9", "x"], "--batch-size": ["0", "-5", "x"], "--seed": ["-5", "1.5"],
            "--threads": ["0", "100000"], "--train-portion": ["0", "1", "nan", "-inf"],
            "--latency-target": ["-inf", "0", "nan"], "--nproc": ["0", "-3", "2000", "x"],
            "--device": ["tpu", "cuda:x"], "--on-nonfinite": ["maybe"],
            "--space-option": ["C=" + "[" * 100_000 + "]" * 100_000, "C=1e12", "C=-1", "C=[1]", "=4", "C"],
        }
        for flag, values in flag_values.items():
            for value in (values[:1] if self.small else values):
                cases.append((f"flag{flag}={value[:12]}", "search flags",
                              lambda w, flag=flag, value=value: [*SEARCH, flag, value, "--run-dir", w / "r"]))
        for label, argv in {"nccl": ["--nproc", "2", "--dist-backend", "nccl"],
                            "mpi": ["--nproc", "2", "--dist-backend", "mpi"]}.items():
            cases.append((f"backend-{label}", "distributed backend",
                          lambda w, argv=argv: [*SEARCH, *argv, "--run-dir", w / "r"]))
        for value in ["-5", "0", "100000"]:
            cases.append((f"sweep-num-cpus={value}", "sweep flags", lambda w, value=value: [
                "sweep", self._sweep_file(w, w / "root"), "--num-cpus", value]))
        cases.append(("sweep-address", "sweep flags", lambda w: [
            "sweep", self._sweep_file(w, w / "root"), "--address", "127.0.0.1:1"]))
        corruptions = {"empty": b"", "open": b"{", "list": b"[1]", "null": b"null", "utf8": b"\xff\xfe{",
                       "deep": b"[" * 100_000 + b"]" * 100_000, "deep-obj": b'{"genotype": ' + b"[" * 100_000 +
                       b"]" * 100_000 + b"}"}
        if self.small:
            corruptions = {k: corruptions[k] for k in ("open", "deep")}
        for (name, commands), (label, data) in itertools.product({
                "config.json": ("show", "resume"), "genotype.json": ("show", "train"),
                "distributed.json": ("resume", "resume2"), "metrics.jsonl": ("show",)}.items(), corruptions.items()):
            if name == "metrics.jsonl" and label in ("empty",):
                continue  # an empty metrics file is a run before its first epoch, not damage
            for command in commands:
                def make(w, name=name, data=data, command=command):
                    run_dir = w / "run"
                    shutil.copytree(self.finished_search(), run_dir, ignore=shutil.ignore_patterns(".lock"))
                    if name == "metrics.jsonl":  # damage inside the file, not a torn last line (repairable)
                        good = (run_dir / name).read_bytes().splitlines(keepends=True)
                        data = b"".join(good[:-1]) + data + b"\n" + good[-1]
                    (run_dir / name).write_bytes(data)
                    if command == "show":
                        return ["show", run_dir, "--out", w / "png"]
                    if command == "train":
                        return ["train", run_dir / name, *TRAIN_FLAGS, "--run-dir", w / "t", "--quiet"]
                    return ["resume", run_dir, "--quiet"] + (["--nproc", "2"] if command == "resume2" else [])
                cases.append((f"rundir-{name}-{label}-{command}", f"run dir {name}", make))
        for label, options in {"C=1e12": {"C": 10 ** 12}, "C=1e12f": {"C": 1e12}, "C=-1": {"C": -1},
                               "C=str": {"C": "x"}}.items():
            def make(w, options=options):
                record = json.loads((self.finished_search() / "genotype.json").read_text())
                record["space_options"].update(options)
                (w / "g.json").write_text(json.dumps(record))
                return ["train", w / "g.json", *TRAIN_FLAGS, "--run-dir", w / "t"]
            cases.append((f"genotype-{label}", "genotype space_options", make))
        cases += self.image_folder_inputs()
        cases += self.crafted_checkpoint_inputs()
        return cases

    def image_folder_inputs(self) -> list[tuple[str, str, Callable[[Path], Expect]]]:
        """Bad image folders (tests/test_image_folder_stream.py, nasplug/data/folder_scan.py): each refused in one
        line naming the entry, before anything is trained; the FIFO and the loop under the drill's timeout."""
        def tree(w: Path, hurt: Callable[[Path, Path], Any], needle: str, user: int | None = None,
                 check: Callable[[Path], str | None] | None = None) -> Expect:
            root = write_images(w / "imgs")
            elsewhere = write_images(w / "elsewhere", classes=("x",), per_class=2)
            hurt(root, elsewhere)
            return Expect(image_search(root, w / "r"), needle, user, (lambda: check(root)) if check else None)

        def unreadable(root: Path, _):
            os.chmod(root / "b", 0)
            if os.geteuid() == 0:  # root reads a mode-000 folder anyway: run the search as nobody instead
                os.chmod(root.parent, 0o777)  # (where nobody may create the run directory)

        def readable_again(root: Path) -> None:
            os.chmod(root / "b", 0o755)  # so that the next case's fresh() can remove it
            return None

        def garbage(root: Path, _):
            (root / "b" / "junk.png").write_bytes(random.Random(3).randbytes(500))

        def truncated(root: Path, _):
            (root / "a" / "broken.png").write_bytes((root / "a" / "0.png").read_bytes()[:60])

        def other_size(root: Path, _):
            write_images(root / "c" / "big", classes=("",), per_class=1, size=9)

        folders = {
            # a directory symlink loop (`ln -s .. F/a/loop`: used to duplicate and mislabel every image)
            "loop-parent": (lambda r, e: os.symlink("..", r / "a" / "loop"), r"a/loop' loops back"),
            "loop-self": (lambda r, e: os.symlink(".", r / "b" / "self"), r"b/self' loops back"),
            "dir-link-outside": (lambda r, e: os.symlink(e / "x", r / "a" / "more"), r"a/more' points outside"),
            "class-link-outside": (lambda r, e: os.symlink(e / "x", r / "d"), r"/d' points outside"),
            "file-link-outside": (lambda r, e: os.symlink(e / "x" / "0.png", r / "a" / "x.png"),
                                  r"a/x.png' points outside"),
            "link-to-slash": (lambda r, e: os.symlink("/", r / "c" / "everything"), r"c/everything' points outside"),
            "dangling-link": (lambda r, e: os.symlink(r / "nowhere.png", r / "a" / "gone.png"), r"a/gone.png'"),
            "fifo": (lambda r, e: os.mkfifo(r / "a" / "x.png"), r"a/x.png' is not a regular file \(a FIFO\)"),
            "bomb": (lambda r, e: (r / "b" / "bomb.png").write_bytes(bomb_png()), r"bomb.png' is refused as a "
                     "decompression bomb"),
            "truncated-png": (truncated, r"broken.png' cannot be decoded"),
            "garbage-png": (garbage, r"junk.png' cannot be decoded"),
            "empty-png": (lambda r, e: (r / "c" / "empty.png").write_bytes(b""), r"empty.png' cannot be decoded"),
            "class-without-images": (lambda r, e: [shutil.rmtree(r / "c"), (r / "c").mkdir(),
                                                   (r / "c" / "notes.txt").write_text("x")], r"class folder 'c' has no"),
            "sizes-differ": (other_size, r"differ in size"),
            "unreadable-class": (unreadable, r"cannot read .*/b' \(permission denied\)"),
        }
        if self.small:
            folders = {k: folders[k] for k in ("loop-parent", "fifo", "bomb")}
        cases = []
        for label, (hurt, needle) in folders.items():
            def make(w, hurt=hurt, needle=needle, label=label):
                if label == "unreadable-class":
                    return tree(w, hurt, needle, NOBODY if os.geteuid() == 0 else None, readable_again)
                return tree(w, hurt, needle)
            cases.append((f"imagefolder-{label}", "image folder", make))
        roots = {
            "empty-root": (lambda w: (w / "imgs").mkdir() or w / "imgs", r"no class folders"),
            "one-class": (lambda w: write_images(w / "imgs", classes=("a",)), r"1 class folder\(s\) \(a\)"),
            "root-is-file": (lambda w: [(w / "imgs").write_text("x")] and w / "imgs", r"'.*imgs' is a file, not a folder"),
            "root-missing": (lambda w: w / "none", r"'.*none' does not exist"),
            "root-empty-string": (lambda w: "", r"root='' .*non-empty folder path"),  # was: the cwd, read
            "split-classes-differ": (lambda w: [write_images(w / "imgs" / "train"),
                                                write_images(w / "imgs" / "test", classes=("a", "b"))] and w / "imgs",
                                     r"train classes .* and test classes .* differ"),
        }
        if self.small:
            roots = {}
        for label, (make_root, needle) in roots.items():
            cases.append((f"imagefolder-{label}", "image folder", lambda w, make_root=make_root, needle=needle: Expect(
                image_search(make_root(w), w / "r"), needle)))
        for label, (option, needle) in {"size-3": ("size=3", r"size"), "size-bool": ("size=true", r"size"),
                                        "cache-neg": ("cache_limit_mb=-1", r"cache_limit_mb"),
                                        "unknown": ("colour=1", r"unknown option")}.items():
            if self.small:
                break
            cases.append((f"imagefolder-option-{label}", "image folder", lambda w, option=option, needle=needle: Expect(
                image_search(write_images(w / "imgs"), w / "r", "--data-option", option), needle)))
        def no_root(w):
            argv = image_search("X", w / "r")
            at = argv.index("root=X")
            return Expect(argv[:at - 1] + argv[at + 1:], r"imagefolder needs root=PATH")
        cases.append(("imagefolder-no-root", "image folder", no_root))
        return cases

    def finished_train(self) -> Path:
        where = self.work / "base-train"
        if not (where / "t" / "result.json").exists():
            where = self.fresh("base-train")
            status, err = run(["train", self.finished_search() / "genotype.json", *TRAIN_FLAGS, "--run-dir", where / "t",
                               "--quiet"], where / "err")
            assert status == 0, err
        return where / "t"

    def crafted_checkpoint_inputs(self) -> list[tuple[str, str, Callable[[Path], Expect]]]:
        """Checkpoints crafted, not damaged (tests/test_rundir_guarantees.py): a valid digest over a state of the
        wrong kind.  ``nasplug resume`` must refuse each in one line naming the file and the field, and leave
        every file of the run directory as it was."""
        import torch

        from nasplug.checkpoint import content_digest

        def weights(kind):
            return "supernet" if kind == "search" else "model"

        def retype(dtype):
            def change(state, kind):
                key = weights(kind)
                state[key] = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state[key].items()}
            return change

        def reshape_first(state, kind):
            key = weights(kind)
            name = next(k for k, v in state[key].items() if v.dim() == 4)
            state[key][name] = torch.zeros(*state[key][name].shape[:-1], state[key][name].shape[-1] + 1)

        def momentum(state, kind):
            state["w_optimizer" if kind == "search" else "optimizer"]["state"][0]["momentum_buffer"] = torch.zeros(3, 3)

        def arch_shape(state, kind):
            name = next(iter(state["arch"]))
            state["arch"][name] = torch.zeros(state["arch"][name].numel() + 2)

        def set_(**fields):
            return lambda state, kind: state.update(fields)

        def other_seed(state, kind):  # (a retraining's config holds its settings under "train")
            (state["config"]["train"] if kind == "train" else state["config"])["seed"] = 9

        crafted = {  # label: (change, digest: "valid" | "none" | "stale", kinds, needle)
            "float16-weights": (retype(torch.float16), "valid", ("search", "train"), r"float16"),
            "int64-weights": (retype(torch.int64), "valid", ("search", "train"), r"int64"),
            "float64-weights": (retype(torch.float64), "valid", ("search",), r"float64"),
            "weight-shape": (reshape_first, "valid", ("search", "train"), r"of shape"),
            "arch-shape": (arch_shape, "valid", ("search",), r"'arch\."),
            "epoch-1.5": (set_(epoch=1.5), "valid", ("search", "train"), r"'epoch' is 1\.5, not a whole number"),
            "epoch-true": (set_(epoch=True), "valid", ("search",), r"'epoch' is True"),
            "epoch-history-differ": (set_(epoch=1), "valid", ("search", "train"), r"'epoch' is 1 but 'history'"),
            "epoch-beyond": (lambda s, k: s.update(epoch=99, history=s["history"] * 33), "valid", ("search",),
                             r"epoch 99"),
            "history-abc": (set_(history="abc"), "valid", ("search", "train"), r"'history' is not a list"),
            "history-of-numbers": (set_(history=[1, 2, 3]), "valid", ("search",), r"'history' is not a list"),
            "no-digest-no-config": (lambda s, k: s.pop("config", None), "none", ("search", "train"),
                                    r"carries no checksum .*--accept-unverified"),
            "stale-digest": (set_(epoch=2), "stale", ("search",), r"checksum mismatch"),
            "finished-final-null": (set_(finished=True, final=None), "valid", ("search",), r"finished, without a final genotype"),
            "finished-not-bool": (set_(finished="yes"), "valid", ("search",), r"'finished' is 'yes'"),
            "momentum-shape": (momentum, "valid", ("search", "train"), r"momentum_buffer of parameter 0 is "
                               r"torch\.float32 \(3, 3\)"),
            "torch-rng-float": (set_(torch_rng=torch.zeros(4)), "valid", ("search",), r"'torch_rng' is"),
            "another-config": (other_seed, "valid", ("search", "train"), r"written by another configuration "
                               r".*\(fields differ: (train\.)?seed\)"),
            "not-a-dict": (None, "valid", ("search",), r"not a nasplug checkpoint"),
        }
        if self.small:
            crafted = {k: crafted[k] for k in ("float16-weights", "no-digest-no-config")}
        cases = []
        for (label, (change, digest, kinds, needle)), which in itertools.product(
                crafted.items(), ("checkpoint.pt", "checkpoint.prev.pt")):
            if which == "checkpoint.prev.pt" and (self.small or label not in (
                    "float16-weights", "no-digest-no-config", "momentum-shape", "finished-final-null")):
                continue
            for kind in kinds:
                def make(w, change=change, digest=digest, kind=kind, needle=needle, which=which):
                    run_dir = w / "run"
                    source = self.finished_search() if kind == "search" else self.finished_train()
                    shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns(".lock"))
                    if change is None:
                        torch.save([1, 2, 3], run_dir / which)
                    else:
                        state = torch.load(run_dir / which, weights_only=True)
                        stored = state.pop("sha256")
                        change(state, kind)
                        if digest == "valid":
                            state["sha256"] = content_digest(state)
                        elif digest == "stale":
                            state["sha256"] = stored
                        torch.save(state, run_dir / which)
                    before = files_of(run_dir)
                    return Expect(["resume", run_dir, "--quiet"] + (["--from-previous"] if which != "checkpoint.pt"
                                                                    else []), re.escape(which) + r": .*" + needle,
                                  check=lambda: None if files_of(run_dir) == before else "the run directory changed")
                suffix = "" if which == "checkpoint.pt" else "-prev"
                cases.append((f"crafted-{kind}-{label}{suffix}", "crafted checkpoint", make))
        return cases

    def bad_input(self, trial_id: str, make: Callable[[Path], list[str] | Expect]) -> None:
        where = self.fresh("bad")
        made = make(where)
        expect = made if isinstance(made, Expect) else Expect(made)
        status, err = run(expect.argv, where / "err", timeout=120.0, user=expect.user)
        problem = expect.check() if expect.check is not None else None
        if status is None:
            outcome = "hang"
        elif is_traceback(err) or status not in (0, 2):
            outcome = "traceback"
        elif status == 0:
            outcome = "silent wrong"
        elif len(lines_of(err)) != 1 or not lines_of(err)[0].startswith("nasplug: error:"):
            outcome = "traceback"
        elif expect.needle is not None and not re.search(expect.needle, lines_of(err)[0]):
            outcome, err = "silent wrong", f"refused, but not for this case (no /{expect.needle}/): {err}"
        elif problem is not None:
            outcome, err = "silent wrong", f"refused, but {problem}: {err}"
        else:
            outcome = "one-line error"
        self.record("input", trial_id, "", outcome, err)

    # -- the whole drill ----------------------------------------------------------------------------
    def run_all(self, only: str = "all", part: tuple[int, int] = (1, 1),
                surfaces_wanted: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """Every trial (of part ``i`` of ``n``: those whose index is ``i - 1`` modulo ``n``; of the surfaces
        ``surfaces_wanted`` if any are named) not done yet."""
        surfaces = {}
        known = {s for _, s, _ in self.bad_inputs()} | {s for _, s, _ in self.fault_trials()}
        unknown = sorted(set(surfaces_wanted) - known)
        if unknown:
            raise SystemExit(f"drills: no surface {unknown}; the surfaces are: {', '.join(sorted(known))}")
        wanted = (lambda items: [i for i in items if i[1] in surfaces_wanted]) if surfaces_wanted else list
        mine = lambda items: [item for k, item in enumerate(wanted(items)) if k % part[1] == part[0] - 1]  # noqa: E731
        if only in ("all", "inputs"):
            for trial_id, surface, make in mine(self.bad_inputs()):
                surfaces[trial_id] = surface
                if trial_id not in self.done:
                    self.surface_now = surface
                    self.bad_input(trial_id, make)
        if only in ("all", "faults"):
            for trial_id, surface, body in mine(self.fault_trials()):
                surfaces[trial_id] = surface
                if trial_id not in self.done:
                    self.surface_now = surface
                    try:
                        body(trial_id)
                    except Exception as exc:  # noqa: BLE001 - the drill's own failure is reported, not hidden
                        self.record("fault", trial_id, surface, "traceback", f"drill error: {exc!r}")
        return self.summary(surfaces)

    def summary(self, surfaces: dict[str, str], extra_rows: dict[str, dict] | None = None) -> dict[str, Any]:
        """Counts by outcome class, per surface and in all (``extra_rows``: other parts' results)."""
        if extra_rows:
            self.done.update(extra_rows)
        counts: dict[str, collections.Counter] = {"fault": collections.Counter(), "input": collections.Counter()}
        by_surface: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        bad = []
        for trial_id, surface in surfaces.items():
            row = self.done.get(trial_id)
            if row is None:
                continue
            counts[row["kind"]][row["outcome"]] += 1
            by_surface[surface][row["outcome"]] += 1
            if row["outcome"] not in ("identical", "one-line error"):
                bad.append(trial_id)
        print("\n== drill summary ==")
        print(f"{'surface':32s} " + " ".join(f"{c:>14s}" for c in CLASSES))
        for surface, counter in sorted(by_surface.items()):
            print(f"{surface:32s} " + " ".join(f"{counter[c]:14d}" for c in CLASSES))
        for kind, counter in counts.items():
            print(f"{'all ' + kind + ' trials':32s} " + " ".join(f"{counter[c]:14d}" for c in CLASSES)
                  + f"   (total {sum(counter.values())})")
        summary = {"fault_trials": dict(counts["fault"]), "bad_inputs": dict(counts["input"]),
                   "fault_total": sum(counts["fault"].values()), "input_total": sum(counts["input"].values()),
                   "not_ok": bad}
        print(json.dumps(summary, sort_keys=True))
        return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="drills-out", help="results.jsonl, references and work folders")
    parser.add_argument("--small", action="store_true", help="the CI-sized drill (a few of each kind)")
    parser.add_argument("--only", choices=("all", "inputs", "faults"), default="all")
    parser.add_argument("--seed", type=int, default=0, help="the random moments of the signals and kills")
    parser.add_argument("--part", default="1/1", help="I/N: run every N-th trial from the I-th (parallel drills)")
    parser.add_argument("--surface", action="append", default=[], metavar="NAME",
                        help="run only the trials of this surface (repeatable), e.g. 'image folder', "
                             "'crafted checkpoint', 'run dir symlinks', 'lock deleted'")
    parser.add_argument("--merge", nargs="*", default=(), metavar="OUT",
                        help="summarize these drills' results.jsonl with this one's, running nothing")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from nasplug.cli import build_parser

    build_parser()  # load the plugins once, before forking
    # import what the commands import, once: a forked trial then pays for its run, not for imports
    import nasplug.pipeline, nasplug.search.run, nasplug.sweep, nasplug.train, nasplug.viz  # noqa: E401,F401
    from nasplug import registry

    registry.default_registry()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    drill = Drill(out, args.small, args.seed)
    if args.merge:
        rows = {}
        for other in [out, *map(Path, args.merge)]:
            for line in (other / "results.jsonl").read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                rows[row["id"]] = row
        surfaces = {t: s for t, s, _ in drill.bad_inputs()} | {t: s for t, s, _ in drill.fault_trials()}
        return drill.summary({t: s for t, s in surfaces.items() if t in rows}, rows)
    part = tuple(int(x) for x in args.part.split("/"))
    return drill.run_all(args.only, part, args.surface)


if __name__ == "__main__":
    summary = main()
    sys.exit(1 if summary["not_ok"] else 0)
