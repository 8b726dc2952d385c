"""Many searches at once: a grid of trials run as Ray tasks, or one by one.

A sweep is a base search config, a grid of values to cross, and optionally
a retraining of each trial's genotype.  Each trial runs in its own
directory, named from its config so that a rerun of the same sweep finds
it: a trial with ``trial.json`` is finished and skipped, one with a
checkpoint is resumed from it (:meth:`SearchRun.resume`, then the
retraining's checkpoint), so a killed sweep rerun with the same command
recomputes nothing.  ``summary.json`` and ``summary.csv`` (config, genotype,
search and retrain accuracy, benchmark scores, seconds) are rewritten as
trials finish.

From the command line (``nasplug sweep sweep.toml``)::

    [sweep]
    root = "sweeps/nb201"      # trial directories and the summary (default: sweeps/<file stem>)
    num_cpus = 1               # Ray resources of one trial
    num_gpus = 0

    [search]                   # SearchConfig fields every trial shares
    space = "nb201"
    data = "digits"
    epochs = 10

    [grid]                     # crossed; a dotted key reaches into an options table
    strategy = ["gdas", "random"]
    seed = [0, 1, 2]
    "space_options.C" = [8, 16]

    [train]                    # optional: retrain every genotype with these TrainConfig fields
    epochs = 10

From Python (benchmarks use this)::

    from nasplug.sweep import grid, run_sweep
    trials = grid({"space": "nb201", "data": "digits", "epochs": 5},
                  {"strategy": ["gdas", "random"], "seed": [0, 1]}, train={"epochs": 5})
    rows = run_sweep(trials, "sweeps/demo", executor="ray")   # or executor="local"

``executor="ray"`` submits each trial as a Ray core task
(``ray.remote`` with the trial's ``num_cpus``/``num_gpus``) to a local
Ray instance, or to the cluster at ``address``; ``executor="local"`` runs
them serially in this process, without Ray.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import re
import signal
import socket
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import attrs

from nasplug import sweep_file
from nasplug.config import load_toml
from nasplug.sweep_file import check_grid, check_resource
from nasplug.errors import ConfigError, NasplugError
from nasplug import signals
from nasplug.signals import Stopped

EXECUTORS = ("ray", "local")
RAY_MISSING = ('the ray executor needs Ray, which is not installed: pip install "nasplug[ray]" '
               '(or run the trials one by one with --executor local)')
TRIAL_FILE = "trial.json"
SUMMARY_JSON, SUMMARY_CSV = "summary.json", "summary.csv"


@attrs.frozen
class Trial:
    """One search (and optional retraining) of a sweep.

    ``search`` holds the user's SearchConfig fields (the strategy preset
    fills in the rest when it runs); ``params`` the grid values that set
    this trial apart, which name its directory.
    """

    search: dict[str, Any]
    params: dict[str, Any] = attrs.field(factory=dict)
    train: dict[str, Any] | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0

    @property
    def name(self) -> str:
        """``<params slug>-<hash of the search config>``: the same search gets the same directory.

        The retraining settings are left out (the hash is of ``train: None``, as
        sweeps without retraining always had), so changing ``[train]`` keeps the
        finished searches; the retraining runs in a folder of its own
        (:attr:`train_dir_name`).
        """
        blob = json.dumps({"search": self.search, "train": None}, sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        slug = "-".join(f"{k.split('.')[-1]}_{v}" for k, v in self.params.items())
        slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", slug)[:80]
        return f"{slug}-{digest}" if slug else digest

    @property
    def train_dir_name(self) -> str:
        """``train-<hash of the retraining fields>``: other ``[train]`` settings retrain in another folder."""
        blob = json.dumps(self.train, sort_keys=True, default=str)
        return "train-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def finished_row(trial: Trial, root: str | Path) -> dict[str, Any] | None:
    """The saved row of ``trial`` if it finished with the same retraining settings, else None."""
    from nasplug.rundir import read_json

    done = Path(root) / trial.name / TRIAL_FILE
    if not done.exists():
        return None
    row = read_json(done, "a finished sweep trial's row")
    return row if row.get("train_config", trial.train) == trial.train else None


def _set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    if "." in key:
        table, option = key.split(".", 1)
        config[table] = {**config.get(table, {}), option: value}
    else:
        config[key] = value


def grid(search: Mapping[str, Any], axes: Mapping[str, Sequence[Any]] | None = None,
         train: Mapping[str, Any] | None = None, num_cpus: float = 1, num_gpus: float = 0) -> list[Trial]:
    """The trials of every combination of ``axes`` values over the ``search`` base config.

    A key of ``axes`` is a SearchConfig field (``strategy``, ``seed``) or a
    dotted ``<options field>.<option>`` (``space_options.C``).  Unless the
    base config says otherwise, each trial's torch threads equal its CPUs.
    """
    from nasplug.config import SearchConfig

    axes = dict(axes or {})
    check_grid(axes)  # counted before anything is expanded: 10^9 combinations are refused at once
    for number, what in ((num_cpus, "num_cpus"), (num_gpus, "num_gpus")):
        check_resource(number, what)
    base = dict(search)
    if "threads" not in base:
        base["threads"] = max(1, int(num_cpus))
    trials = []
    for values in itertools.product(*axes.values()):
        params = dict(zip(axes, values))
        config = json.loads(json.dumps(base))  # a deep copy of plain data
        for key, value in params.items():
            _set_dotted(config, key, value)
        SearchConfig.from_dict(config)  # a bad key or value is an error before anything runs
        trials.append(Trial(config, params, None if train is None else dict(train), float(num_cpus),
                            float(num_gpus)))
    return trials


@attrs.frozen
class Sweep:
    trials: list[Trial]
    root: Path


def load_sweep(path: str | Path) -> Sweep:
    """The trials and output folder a sweep TOML file describes."""
    data = load_toml(path)
    sweep_file.validate(data, path)  # every table, before the first trial
    settings = dict(data.get("sweep", {}))
    train = data.get("train")
    train = (train or {}) if settings.get("retrain", train is not None) else None
    root = Path(settings.get("root", Path("sweeps") / Path(path).stem))
    trials = grid(data.get("search", {}), data.get("grid", {}), train, settings.get("num_cpus", 1),
                  settings.get("num_gpus", 0))
    return Sweep(trials, root)


# -- one trial ---------------------------------------------------------------------
def run_trial(trial: Trial, root: str | Path,
              epoch_hook: Callable[[Mapping[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run (or continue, or look up) one trial in ``root/<trial.name>``; its summary row.

    Safe to call again after a kill: a finished trial returns its saved row,
    an interrupted search resumes from its checkpoint, and so does an
    interrupted retraining.  ``epoch_hook`` (Ray Tune's reporter) is called
    with every search epoch's record, those of a resumed run's earlier epochs
    first, so a scheduler sees the same curve whether or not the trial was
    interrupted.
    """
    from nasplug.config import TrainConfig
    from nasplug.run_directory import holds_run
    from nasplug.rundir import atomic_write_json
    from nasplug.search.run import SearchRun, merged_config
    from nasplug.train import Trainer

    trial_dir = Path(root) / trial.name
    done = trial_dir / TRIAL_FILE
    row = finished_row(trial, root)
    if row is not None:
        return row
    started = time.time()
    search_dir = trial_dir / "search"
    callbacks = [] if epoch_hook is None else [lambda run, event: event == "epoch" and epoch_hook(run.history[-1])]
    if holds_run(search_dir):
        run = SearchRun.resume(search_dir, callbacks=callbacks)
        resumed_at = run.state.epoch
        for record in run.history if epoch_hook is not None else ():
            epoch_hook(record)
    else:
        config = merged_config({**trial.search, "runs_root": str(trial_dir)})
        run = SearchRun(config, run_dir=search_dir, callbacks=callbacks)
        resumed_at = None
    search_started = time.time()
    result = run.run()
    search_seconds = _seconds_before(result.history, resumed_at) + time.time() - search_started
    # the found genotype on validation data with the shared weights (every strategy, random search too)
    _, valid_acc = run.evaluate(run.space.choices_from_genotype(result.genotype), run.config.eval_batches)
    row: dict[str, Any] = {
        "trial": trial.name, "params": trial.params, "config": trial.search, "status": "done",
        "genotype": str(result.genotype), "search_valid_acc": valid_acc,
        "benchmark": result.benchmark, "search_dir": str(search_dir), "search_resumed_at_epoch": resumed_at,
        "search_seconds": search_seconds, "train_config": trial.train,
    }
    if trial.train is not None:
        train_dir = trial_dir / trial.train_dir_name
        fields = {key: result.config.to_dict()[key] for key in ("data", "data_options", "seed", "device", "threads")}
        fields.update(trial.train)
        if holds_run(train_dir):  # killed while retraining: go on from its (checksummed) checkpoint
            trainer = Trainer.resume(train_dir)
        else:
            trainer = Trainer(result.genotype_record(), TrainConfig.from_dict(fields), run_dir=train_dir)
        row["train_resumed_at_epoch"] = trainer.epoch or None  # checkpoints are saved after an epoch
        train_started = time.time()
        report = trainer.run()
        row.update({"retrain_test_acc": report.test_accuracy, "parameters": report.parameters,
                    "macs": report.macs, "train_dir": str(train_dir),
                    "train_seconds": _seconds_before(report.history, row["train_resumed_at_epoch"])
                    + time.time() - train_started})
    row["seconds"] = row["search_seconds"] + row.get("train_seconds", 0.0)
    row["wall_seconds_last_invocation"] = time.time() - started
    atomic_write_json(done, row)
    return row


def _seconds_before(history: Sequence[Mapping[str, Any]], resumed_at: int | None) -> float:
    """Seconds the epochs done before a resume took (their records survive in the checkpoint)."""
    return sum(h.get("seconds", 0.0) for h in history[: resumed_at or 0])


def _failed_row(trial: Trial, error: str) -> dict[str, Any]:
    return {"trial": trial.name, "params": trial.params, "config": trial.search, "status": "failed",
            "error": error}


class SweepStopped(Stopped):
    """SIGTERM/SIGINT stopped a sweep whose trials run elsewhere (Ray): its unfinished trials were cancelled."""

    def __init__(self, signum: int, root: Path):
        Exception.__init__(self, f"sweep {root} stopped on {signals.NAMES.get(signum, signum)}; finished trials are "
                                 "kept, rerun the same command to resume the others from their checkpoints")
        self.signum, self.epoch, self.step, self.run_dir = signum, 0, 0, root


# -- executors ---------------------------------------------------------------------
def _trial_row(trial: Trial, root: str | Path) -> dict[str, Any]:
    """One trial's row, its failure as a ``failed`` row (the sweep goes on); also the body of a Ray task."""
    try:
        return run_trial(trial, root)
    except Stopped:
        raise  # SIGTERM/SIGINT stop the sweep, not only this trial; a rerun resumes it from its checkpoint
    except NasplugError as exc:
        return _failed_row(trial, str(exc))
    except Exception:  # a trial's crash is recorded
        return _failed_row(trial, traceback.format_exc(limit=5))


#: seconds to wait for a Ray cluster's address to answer before giving up
CONNECT_TIMEOUT_S = 10.0


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A one-line error unless ``HOST:PORT`` (or ``ray://HOST:PORT``) accepts a connection within ``timeout``.

    ``ray.init`` retries an unreachable address for minutes; a sweep that
    names a wrong host should say so at once.
    """
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"Ray address {address!r} must look like HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"the Ray cluster at {address!r} did not answer within {timeout:g} s "
                          f"({exc.strerror or exc}); check the address and that the cluster is running") from None


def check_feasible(trials: Sequence[Trial], resources: Mapping[str, float]) -> None:
    """Refuse trials that ask for more CPUs or GPUs than the whole cluster has: Ray would wait for them forever."""
    for what, key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        need = max((getattr(t, what) for t in trials), default=0.0)
        have = float(resources.get(key, 0.0))
        if need > have:
            raise ConfigError(f"a trial asks for {what} = {need:g} but the Ray cluster has {have:g} {key}(s); "
                              f"lower [sweep] {what} or give Ray more (--num-cpus)")


def _watch_driver(driver: tuple[int, str], interval: float = 0.5) -> None:
    """In a Ray worker: stop the trial at its next step once the driver on this machine has died.

    Ray notices a killed driver only after tens of seconds, while its trial
    goes on computing and writing; the flag makes the trial stop like a
    SIGTERM would, at a step boundary, its checkpoint intact.
    """
    import threading

    pid, host = driver
    if host != socket.gethostname() or pid == os.getpid():
        return

    def watch():
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                signals.request_stop(signal.SIGTERM)
                return
            except OSError:
                pass
            time.sleep(interval)

    threading.Thread(target=watch, name="nasplug-driver-watch", daemon=True).start()


def _ray_trial_row(trial: Trial, root: str | Path, driver: tuple[int, str]) -> dict[str, Any]:
    """The body of a Ray task: :func:`_trial_row`, stopped when the sweep's driver dies."""
    _watch_driver(driver)
    return _trial_row(trial, root)


def _local(trials: Sequence[Trial], root: Path, report: Callable[[dict], None]) -> None:
    for trial in trials:
        report(_trial_row(trial, root))


def _ray(trials: Sequence[Trial], root: Path, report: Callable[[dict], None], address: str | None,
         init_options: Mapping[str, Any] | None) -> None:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(RAY_MISSING) from exc
    started_here = not ray.is_initialized()
    if started_here:
        options = {"include_dashboard": False, "log_to_driver": False, **(init_options or {})}
        handlers = {s: signal.getsignal(s) for s in signals.NAMES}
        try:
            ray.init(address=address, **options)
        except SystemExit as exc:  # ray.init's SIGTERM handler calls sys.exit(15)
            ray.shutdown()
            raise SweepStopped(int(exc.code) if isinstance(exc.code, int) else signal.SIGTERM, root) from None
        except ConnectionError as exc:
            ray.shutdown()
            raise ConfigError(f"could not join the Ray cluster at {address!r}: {str(exc).splitlines()[0]}") from None
        finally:
            for signum, handler in handlers.items():  # ray.init's own SIGTERM handler kills the driver silently
                signal.signal(signum, handler)
    try:
        if signals.requested() is not None:  # a signal during ray.init
            raise SweepStopped(signals.requested(), root)
        check_feasible(trials, ray.cluster_resources())
        task = ray.remote(max_retries=0)(_ray_trial_row)
        driver = (os.getpid(), socket.gethostname())
        pending = {task.options(num_cpus=t.num_cpus, num_gpus=t.num_gpus).remote(t, str(root), driver): t
                   for t in trials}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                trial = pending.pop(ref)
                try:
                    report(ray.get(ref))
                except Exception as exc:  # the worker died (killed, out of memory)
                    report(_failed_row(trial, f"the Ray task failed: {exc}"))
            if signals.requested() is not None and pending:  # the CLI's stop_on_signals set the flag
                for ref in pending:  # the trials' writes are atomic: they resume from their last checkpoint
                    ray.cancel(ref, force=True)
                raise SweepStopped(signals.requested(), root)
    finally:
        if started_here:
            ray.shutdown()


def run_sweep(trials: Iterable[Trial], root: str | Path = "sweeps", executor: str = "ray", address: str | None = None,
              ray_init: Mapping[str, Any] | None = None,
              log: Callable[[str], None] | None = print) -> list[dict[str, Any]]:
    """Run every trial not yet finished under ``root``; the summary rows of all of them.

    ``root`` holds one directory per trial (named from its config, so trials shared by several sweeps
    under one root run once) and the summary.  ``executor``: ``"ray"`` (Ray core tasks; ``address`` joins a running
    cluster, default a local instance started with ``ray_init`` options) or
    ``"local"`` (serially, in this process).  Finished trials are read back,
    not rerun.  ``summary.json`` and ``summary.csv`` under ``root`` are
    rewritten after every trial.  A trial that fails is a row with
    ``status: failed`` and its error; the others still run.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"sweep executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "ray" and address not in (None, "auto", "local"):
        check_reachable(address)  # before anything is written or said
    trials = list(trials)
    names = [t.name for t in trials]
    if len(set(names)) != len(names):
        raise ConfigError("the sweep has duplicate trials (the same config twice)")
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for trial in trials:
        row = finished_row(trial, root)
        if row is not None:
            rows[trial.name] = {**row, "skipped": True}
        else:
            todo.append(trial)
    if log:
        log(f"sweep {root}: {len(trials)} trials, {len(rows)} finished before, {len(todo)} to run ({executor})")

    def report(row: dict[str, Any]) -> None:
        rows[row["trial"]] = row
        write_summary(root, [rows[n] for n in names if n in rows])
        if log:
            what = f"genotype {row['genotype']}" if row["status"] == "done" else f"FAILED: {row['error']}"
            log(f"  [{len(rows)}/{len(trials)}] {row['trial']}: {what}")

    write_summary(root, [rows[n] for n in names if n in rows])
    if todo and executor == "ray":
        _ray(todo, root, report, address, ray_init)
    elif todo:
        _local(todo, root, report)
    return [rows[n] for n in names]


# -- the summary --------------------------------------------------------------------
CSV_FIRST = ["trial", "status", "genotype", "search_valid_acc", "retrain_test_acc", "seconds"]


def flat_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One CSV row: params and benchmark scores as their own columns."""
    out = {k: v for k, v in row.items() if k not in ("params", "config", "benchmark")}
    out.update({f"param.{k}": v for k, v in row.get("params", {}).items()})
    out.update({f"benchmark.{k}": v for k, v in (row.get("benchmark") or {}).items()})
    out["config"] = json.dumps(row.get("config", {}), sort_keys=True)
    return out


def write_summary(root: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    from nasplug.rundir import atomic_write_bytes, atomic_write_json

    atomic_write_json(root / SUMMARY_JSON, {"trials": list(rows)})
    flat = [flat_row(r) for r in rows]
    columns = [c for c in CSV_FIRST if any(c in r for r in flat)]
    columns += sorted({c for r in flat for c in r} - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(flat)
    atomic_write_bytes(root / SUMMARY_CSV, buffer.getvalue().encode())
