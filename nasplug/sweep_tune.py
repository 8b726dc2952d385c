"""Sweeps on Ray Tune: sampled search configs, early stopping, restore after a crash.

A sweep file with a ``[search_space]`` or ``[tune]`` table is run here
instead of as a plain grid (:mod:`nasplug.sweep`)::

    [sweep]
    root = "sweeps/tune-demo"
    num_cpus = 1                     # Ray resources of one trial
    num_gpus = 0

    [search]                         # what every trial shares
    space = "nb201"
    data = "digits"
    epochs = 4

    [search_space]                   # sampled per trial; a dotted key reaches into an options table
    strategy = {choice = ["gdas", "random"]}
    arch_lr = {loguniform = [1e-4, 1e-2]}
    "space_options.C" = {choice = [4, 8]}
    seed = {randint = [0, 1000]}     # low inclusive, high exclusive

    [tune]
    algorithm = "random"             # random | tpe (Optuna) | bohb (needs hpbandster and ConfigSpace)
    scheduler = "asha"               # asha | hyperband | fifo (no early stopping)
    metric = "derived_valid_acc"
    mode = "max"
    num_samples = 16
    grace_period = 1                 # epochs every trial runs before it may be stopped
    max_t = 4                        # epochs (default: [search] epochs)

Every trial is a nasplug trial directory (:func:`nasplug.sweep.run_trial`):
its search reports each epoch's record to Tune through a run callback, so
ASHA can stop a bad trial after ``grace_period`` epochs; a trial Tune starts
again (after :meth:`Tuner.restore`) resumes from its own checkpoint
bit-for-bit and first replays the epochs it had reported.  Running the same
command after the driver was killed restores the Tune experiment under
``<root>/tune``: finished and stopped trials are not run again.

``executor="local"`` needs no Ray: it draws ``num_samples`` configs from
``[search_space]`` with a seeded generator and runs them one by one to the
end (no search algorithm, no early stopping).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import attrs

from nasplug.config import load_toml
from nasplug.errors import ConfigError, NasplugError
from nasplug.sweep import (RAY_MISSING, SUMMARY_JSON, TRIAL_FILE, Trial, _failed_row, _set_dotted, run_sweep,
                           write_summary)

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
ALGORITHMS = ("random", "tpe", "bohb")
SCHEDULERS = ("asha", "hyperband", "fifo")
#: numbers every epoch record of a search has (more may come from a sampler or a latency model)
METRICS = ("derived_valid_acc", "derived_valid_loss", "train_loss", "train_acc", "derived_latency")
TABLES = ("sweep", "search", "search_space", "grid", "tune", "train")
TUNE_KEYS = ("algorithm", "scheduler", "metric", "mode", "num_samples", "grace_period", "max_t", "seed",
             "reduction_factor", "max_concurrent")
BOHB_MISSING = ('the bohb algorithm needs hpbandster and ConfigSpace, which are not installed: '
                'pip install hpbandster ConfigSpace (or use algorithm = "random" or "tpe")')
OPTUNA_MISSING = 'the tpe algorithm needs Optuna, which is not installed: pip install "nasplug[optuna]"'
EXPERIMENT = "tune"
HPARAMS_DIR = "tensorboard-hparams"


@attrs.frozen
class Distribution:
    """One ``[search_space]`` entry: ``kind`` is one of :data:`DISTRIBUTIONS`, ``args`` its values or bounds."""

    key: str
    kind: str
    args: tuple

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return self.args[rng.randrange(len(self.args))]
        low, high = self.args
        if self.kind == "uniform":
            return rng.uniform(low, high)
        if self.kind == "loguniform":
            return math.exp(rng.uniform(math.log(low), math.log(high)))
        return rng.randrange(low, high)

    def tune_domain(self):
        from ray import tune

        if self.kind == "choice":
            return tune.choice(list(self.args))
        return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[self.kind](*self.args)

    def extremes(self) -> list[Any]:
        """The values whose validity stands for all: every choice, or both ends of a range."""
        if self.kind == "choice":
            return list(self.args)
        low, high = self.args
        return [low, high - 1] if self.kind == "randint" else [low, high]


@attrs.frozen
class TuneSettings:
    algorithm: str = "random"
    scheduler: str = "asha"
    metric: str = "derived_valid_acc"
    mode: str = "max"
    num_samples: int = 8
    grace_period: int = 1
    max_t: int | None = None
    seed: int = 0
    reduction_factor: int = 2
    max_concurrent: int | None = None


@attrs.frozen
class TuneSweep:
    """A validated sweep file: base config, sampled space, grid, Tune settings, output folder."""

    search: dict[str, Any]
    space: tuple[Distribution, ...]
    grid: dict[str, list[Any]]
    tune: TuneSettings
    train: dict[str, Any] | None
    root: Path
    num_cpus: float = 1.0
    num_gpus: float = 0.0

    @property
    def epochs(self) -> int:
        from nasplug.config import SearchConfig

        return SearchConfig.from_dict(self.search).epochs

    def trial(self, params: Mapping[str, Any]) -> Trial:
        """The nasplug trial (and so its directory) of one sampled set of values."""
        config = json.loads(json.dumps(self.search))
        for key, value in params.items():
            _set_dotted(config, key, value)
        return Trial(config, dict(params), self.train, self.num_cpus, self.num_gpus)


def is_tune_file(data: Mapping[str, Any]) -> bool:
    """A sweep file that asks for sampling or Tune (rather than only a grid)."""
    return "tune" in data or "search_space" in data


def _distribution(key: str, spec: Any) -> Distribution:
    where = f"[search_space] {key!r}"
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(f"{where} must be a table with one of {', '.join(DISTRIBUTIONS)}, e.g. "
                          f"{{choice = [1, 2]}} or {{loguniform = [1e-4, 1e-2]}}; got {spec!r}")
    kind, args = next(iter(spec.items()))
    if not isinstance(args, list) or not args:
        raise ConfigError(f"{where}: {kind} takes a non-empty list, got {args!r}")
    if kind == "choice":
        return Distribution(key, kind, tuple(args))
    if len(args) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in args):
        raise ConfigError(f"{where}: {kind} takes [low, high] numbers, got {args!r}")
    low, high = args
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        raise ConfigError(f"{where}: randint takes integer bounds [low, high), got {args!r}")
    if not low < high:
        raise ConfigError(f"{where}: {kind} needs low < high, got {args!r}")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: loguniform needs low > 0, got {args!r}")
    return Distribution(key, kind, (low, high))


def _positive_int(table: str, key: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"[{table}] {key} must be an integer >= {low}, got {value!r}")
    return value


def _tune_settings(data: Mapping[str, Any], epochs: int) -> TuneSettings:
    unknown = sorted(set(data) - set(TUNE_KEYS))
    if unknown:
        raise ConfigError(f"unknown [tune] key(s) {unknown}; allowed: {', '.join(TUNE_KEYS)}")
    settings = TuneSettings(**data)
    for key, allowed in (("algorithm", ALGORITHMS), ("scheduler", SCHEDULERS), ("mode", ("max", "min"))):
        if getattr(settings, key) not in allowed:
            raise ConfigError(f"[tune] {key} = {getattr(settings, key)!r} is not one of {', '.join(allowed)}")
    if settings.metric not in METRICS:
        raise ConfigError(f"[tune] metric = {settings.metric!r} is not an epoch metric of a search; "
                          f"allowed: {', '.join(METRICS)}")
    _positive_int("tune", "num_samples", settings.num_samples)
    _positive_int("tune", "seed", settings.seed, 0)
    _positive_int("tune", "reduction_factor", settings.reduction_factor, 2)
    if settings.max_concurrent is not None:
        _positive_int("tune", "max_concurrent", settings.max_concurrent)
    max_t = epochs if settings.max_t is None else _positive_int("tune", "max_t", settings.max_t)
    if max_t > epochs:
        raise ConfigError(f"[tune] max_t = {max_t} exceeds the search's epochs ({epochs}); allowed: 1..{epochs}")
    grace = _positive_int("tune", "grace_period", settings.grace_period)
    if grace > max_t:
        raise ConfigError(f"[tune] grace_period = {grace} exceeds max_t ({max_t}); allowed: 1..{max_t}")
    if settings.algorithm == "bohb" and settings.scheduler != "hyperband":
        raise ConfigError('[tune] algorithm = "bohb" goes with scheduler = "hyperband" (BOHB\'s own HyperBand)')
    return attrs.evolve(settings, max_t=max_t)


def load_tune_sweep(path: str | Path) -> TuneSweep:
    """Read and validate a whole Tune sweep file before any trial runs; every error is one line."""
    from nasplug.config import SearchConfig

    data = load_toml(path)
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"sweep file {str(path)!r} has unknown table(s) {unknown}; allowed: {', '.join(TABLES)}")
    for table in TABLES:
        if not isinstance(data.get(table, {}), Mapping):
            raise ConfigError(f"[{table}] of {str(path)!r} must be a table, got {data[table]!r}")
    settings = dict(data.get("sweep", {}))
    allowed = {"root", "num_cpus", "num_gpus", "retrain"}
    if set(settings) - allowed:
        raise ConfigError(f"unknown [sweep] key(s) {sorted(set(settings) - allowed)}; allowed: {sorted(allowed)}")
    resources = {}
    for what in ("num_cpus", "num_gpus"):
        value = settings.get(what, 1 if what == "num_cpus" else 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"[sweep] {what} must be a number >= 0, got {value!r}")
        resources[what] = float(value)
    search = dict(data.get("search", {}))
    search.setdefault("threads", max(1, int(resources["num_cpus"])))
    epochs = SearchConfig.from_dict(search).epochs
    space = tuple(_distribution(k, v) for k, v in data.get("search_space", {}).items())
    grid = data.get("grid", {})
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"[grid] {key!r} must be a non-empty list, got {values!r}")
    overlap = sorted(set(grid) & {d.key for d in space})
    if overlap:
        raise ConfigError(f"{overlap} set both in [grid] and [search_space]; keep each key in one of them")
    # every value a trial can get is checked now, not after an hour of other trials
    from nasplug import registry as registry_module
    from nasplug.search.compose import compose
    from nasplug.search.run import merged_config

    registry = registry_module.default_registry()
    for key, values in [(d.key, d.extremes()) for d in space] + list(grid.items()):
        for value in values:
            config = json.loads(json.dumps(search))
            _set_dotted(config, key, value)
            try:  # the names too: a strategy, space or option no plugin provides
                compose(merged_config(config), registry)
            except NasplugError as exc:
                raise ConfigError(f"sweep value {key} = {value!r}: {exc}") from None
    train = data.get("train")
    train = (dict(train or {})) if settings.get("retrain", train is not None) else None
    if train is not None:
        from nasplug.config import TrainConfig

        TrainConfig.from_dict({k: v for k, v in train.items()})
    root = Path(settings.get("root", Path("sweeps") / Path(path).stem))
    return TuneSweep(search, space, {k: list(v) for k, v in grid.items()}, _tune_settings(data.get("tune", {}), epochs),
                     train, root, resources["num_cpus"], resources["num_gpus"])


# -- local: sampled configs, one by one, to the end ---------------------------------------
def sample_trials(sweep: TuneSweep) -> list[Trial]:
    """``num_samples`` draws of the search space (times the grid), seeded by ``[tune] seed``."""
    import itertools

    rng = random.Random(sweep.tune.seed)
    trials = []
    for _ in range(sweep.tune.num_samples):
        drawn = {d.key: d.sample(rng) for d in sweep.space}
        for values in itertools.product(*sweep.grid.values()):
            trials.append(sweep.trial({**dict(zip(sweep.grid, values)), **drawn}))
    unique = {t.name: t for t in trials}  # a value drawn twice is one trial
    return list(unique.values())


# -- Ray Tune -------------------------------------------------------------------------------
def _trainable(config: dict[str, Any], sweep: TuneSweep) -> None:
    """One Tune trial: a nasplug trial whose search reports each epoch to Tune."""
    from ray import tune

    trial = sweep.trial(config)
    root = sweep.root
    last_epoch = sweep.epochs - 1

    def report(record: Mapping[str, Any]) -> None:
        # the last epoch is reported once trial.json is written: a scheduler stopping at max_t must not
        # kill the trial between its last epoch and its final genotype.  An epoch without the metric (random
        # search derives no genotype before its end) is not reported: the schedulers count "epoch", not reports
        if record["epoch"] < last_epoch and sweep.tune.metric in record:
            tune.report(_tune_metrics(record))

    done = root / trial.name / TRIAL_FILE
    if done.exists():  # finished before the driver was killed: replay its curve for Tune
        history = json.loads((root / trial.name / "search" / "result.json").read_text())["history"]
        for record in history[:-1]:
            report(record)
        row = json.loads(done.read_text())
    else:
        from nasplug.sweep import run_trial

        row = run_trial(trial, root, epoch_hook=report)
        history = json.loads((root / trial.name / "search" / "result.json").read_text())["history"]
    final = {sweep.tune.metric: row["search_valid_acc"]} if sweep.tune.metric == "derived_valid_acc" else {}
    tune.report({**final, **_tune_metrics(history[-1]), "search_valid_acc": row["search_valid_acc"],
                 **({"retrain_test_acc": row["retrain_test_acc"]} if "retrain_test_acc" in row else {})})


def _tune_metrics(record: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: float(v) for k, v in record.items()
           if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch"}
    out["epoch"] = int(record["epoch"]) + 1
    return out


def _search_algorithm(settings: TuneSettings):
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if settings.algorithm == "random":
        algorithm = BasicVariantGenerator(random_state=settings.seed)
        return algorithm if settings.max_concurrent is None else \
            BasicVariantGenerator(random_state=settings.seed, max_concurrent=settings.max_concurrent)
    if settings.algorithm == "tpe":
        try:
            import optuna
            from ray.tune.search.optuna import OptunaSearch
        except ImportError as exc:
            raise ConfigError(OPTUNA_MISSING) from exc
        algorithm = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=settings.seed))
    else:
        try:
            import ConfigSpace  # noqa: F401
            import hpbandster  # noqa: F401
            from ray.tune.search.bohb import TuneBOHB
        except ImportError as exc:
            raise ConfigError(BOHB_MISSING) from exc
        algorithm = TuneBOHB(seed=settings.seed)
    return algorithm if settings.max_concurrent is None else ConcurrencyLimiter(algorithm, settings.max_concurrent)


def _scheduler(settings: TuneSettings):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandForBOHB, HyperBandScheduler

    if settings.scheduler == "asha":
        return ASHAScheduler(time_attr="epoch", max_t=settings.max_t, grace_period=settings.grace_period,
                             reduction_factor=settings.reduction_factor)
    if settings.scheduler == "hyperband":
        cls = HyperBandForBOHB if settings.algorithm == "bohb" else HyperBandScheduler
        return cls(time_attr="epoch", max_t=settings.max_t, reduction_factor=settings.reduction_factor)
    return FIFOScheduler()


def _ray_init(address: str | None, init_options: Mapping[str, Any] | None):
    """A local Ray instance kept small (a busy laptop), or the cluster at ``address``; our signal handlers kept."""
    import signal

    import ray

    from nasplug import signals

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # nasplug writes its own HParams events
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    options = {"include_dashboard": False, "log_to_driver": False, **(init_options or {})}
    if address is None:
        options.setdefault("object_store_memory", 80 * 2**20)
    handlers = {s: signal.getsignal(s) for s in signals.NAMES}
    ray.init(address=address, **options)
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    return True


def run_tune(sweep: TuneSweep, address: str | None = None, ray_init: Mapping[str, Any] | None = None,
             log: Callable[[str], None] | None = print) -> list[dict[str, Any]]:
    """Run the sweep on Ray Tune (restoring ``<root>/tune`` if a killed driver left it); the summary rows."""
    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise ConfigError(RAY_MISSING) from exc
    if sweep.tune.algorithm == "bohb":
        _search_algorithm(sweep.tune)  # says what to install before Ray starts
    root = sweep.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    sweep = attrs.evolve(sweep, root=root)
    started_here = _ray_init(address, ray_init)
    try:
        trainable = tune.with_resources(tune.with_parameters(_trainable, sweep=sweep),
                                        {"cpu": sweep.num_cpus, "gpu": sweep.num_gpus})
        experiment = root / EXPERIMENT
        if tune.Tuner.can_restore(str(experiment)):
            if log:
                log(f"sweep {root}: restoring the Tune experiment {experiment} (finished trials are not rerun)")
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            space = {d.key: d.tune_domain() for d in sweep.space}
            space.update({k: tune.grid_search(v) for k, v in sweep.grid.items()})
            settings = sweep.tune
            if log:
                log(f"sweep {root}: {settings.num_samples} samples, {settings.algorithm} search, "
                    f"{settings.scheduler} scheduler on {settings.metric} ({settings.mode}), "
                    f"max {settings.max_t} epochs")
            tuner = tune.Tuner(
                trainable, param_space=space,
                tune_config=tune.TuneConfig(metric=settings.metric, mode=settings.mode,
                                            num_samples=settings.num_samples,
                                            search_alg=_search_algorithm(settings), scheduler=_scheduler(settings),
                                            reuse_actors=True),  # torch and nasplug imported once per worker
                run_config=tune.RunConfig(name=EXPERIMENT, storage_path=str(root), verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=0)))
        try:
            results = tuner.fit()
        except tune.TuneError as exc:  # Tune's own failure (not a trial's: those are rows), as one line
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            raise NasplugError(f"the Tune sweep under {root} failed: {lines[-1] if lines else exc!r}; "
                               "rerun the same command to resume it") from None
        rows = [_row(sweep, result) for result in results]
    finally:
        if started_here:
            ray.shutdown()
    write_summary(root, rows)
    write_hparams(root / HPARAMS_DIR, rows, sweep.tune.metric)
    if log:
        for row in rows:
            log(f"  {row['trial']}: {_describe(row)}")
    return rows


def _row(sweep: TuneSweep, result) -> dict[str, Any]:
    """A summary row for one Tune result: the nasplug trial's row, or how far a stopped trial got."""
    params = {k: result.config[k] for k in result.config}
    trial = sweep.trial(params)
    done = sweep.root / trial.name / TRIAL_FILE
    metrics = result.metrics or {}
    if done.exists():
        row = json.loads(done.read_text())
        row["epochs_run"] = sweep.epochs
    elif result.error is not None:
        row = _failed_row(trial, (str(result.error).strip().splitlines() or ["error"])[-1])
    else:
        epoch = int(metrics.get("epoch", 0))
        row = {"trial": trial.name, "params": trial.params, "config": trial.search, "status": "stopped_early",
               "stopped_at_epoch": epoch, "epochs_run": epoch,
               "search_dir": str(sweep.root / trial.name / "search")}
    row[sweep.tune.metric] = metrics.get(sweep.tune.metric)
    row["tune_trial_id"] = getattr(result, "path", None) and Path(result.path).name
    return row


def _describe(row: Mapping[str, Any]) -> str:
    if row["status"] == "done":
        return f"done, search_valid_acc {row['search_valid_acc']:.3f}, genotype {row['genotype']}"
    if row["status"] == "stopped_early":
        return f"stopped early by the scheduler after epoch {row['stopped_at_epoch']}"
    return f"FAILED: {row['error']}"


def write_hparams(folder: Path, rows: Sequence[Mapping[str, Any]], metric: str) -> None:
    """One TensorBoard HParams run per trial (its sampled values and its last reported metric), rewritten whole."""
    from nasplug.tensorboard import summary_writer_class

    try:
        writer_class = summary_writer_class()
    except ConfigError:
        return  # TensorBoard is an extra; the summary files hold the same numbers
    if folder.exists():
        shutil.rmtree(folder)
    for row in rows:
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in row["params"].items()}
        values = {f"hparam/{metric}": float(row.get(metric) if row.get(metric) is not None else float("nan")),
                  "hparam/epochs_run": float(row.get("epochs_run", 0))}
        if row.get("search_valid_acc") is not None:
            values["hparam/search_valid_acc"] = float(row["search_valid_acc"])
        with writer_class(str(folder / row["trial"])) as writer:
            writer.add_hparams(hparams, values, run_name=".")


def run_tune_sweep(sweep: TuneSweep, executor: str = "ray", address: str | None = None,
                   ray_init: Mapping[str, Any] | None = None,
                   log: Callable[[str], None] | None = print) -> list[dict[str, Any]]:
    """``executor="ray"``: :func:`run_tune`; ``"local"``: the sampled trials one by one, to the end."""
    if executor == "local":
        if log:
            log(f"sweep {sweep.root}: --executor local draws {sweep.tune.num_samples} random samples of "
                f"[search_space] and runs each to the end (no {sweep.tune.algorithm} search algorithm, "
                f"no {sweep.tune.scheduler} early stopping: those need Ray Tune)")
        rows = run_sweep(sample_trials(sweep), sweep.root, executor="local", log=log)
        for row in rows:
            row["epochs_run"] = sweep.epochs if row["status"] == "done" else None
            if row["status"] == "done":  # the last epoch's metric, as Tune would have seen it
                result = json.loads((Path(row["search_dir"]) / "result.json").read_text())
                row[sweep.tune.metric] = result["history"][-1].get(sweep.tune.metric)
        write_summary(Path(sweep.root).resolve(), rows)
        write_hparams(Path(sweep.root).resolve() / HPARAMS_DIR, rows, sweep.tune.metric)
        return rows
    return run_tune(sweep, address, ray_init, log)


__all__ = ["DISTRIBUTIONS", "Distribution", "TuneSweep", "is_tune_file", "load_tune_sweep", "run_tune",
           "run_tune_sweep", "sample_trials", "write_hparams", "SUMMARY_JSON"]
