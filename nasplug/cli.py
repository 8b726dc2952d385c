"""The ``nasplug`` command: plugins, search, resume, train, show."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from nasplug import registry as registry_module
from nasplug.cli_help import FLAG_HELP
from nasplug.cli_options import parse_options
from nasplug.config import TrainConfig, load_toml
from nasplug.errors import ConfigError, NasplugError
from nasplug.logs import LEVELS, console_logging, level_from_flags

# flag -> SearchConfig field, for flags whose value is passed through as is
SEARCH_FLAGS = {
    "space": str, "strategy": str, "data": str, "sampler": str, "arch_optimizer": str, "reward": str,
    "latency_model": str, "latency_target": float, "benchmark": str, "epochs": int, "batch_size": int,
    "valid_batch_size": int, "steps_per_epoch": int, "train_portion": float, "w_lr": float, "arch_lr": float,
    "seed": int, "device": str, "threads": int, "eval_batches": int, "runs_root": str, "on_nonfinite": str,
}
OPTION_FLAGS = ("space", "data", "sampler", "optimizer", "reward", "latency", "benchmark")
TRAIN_FLAGS = {"data": str, "epochs": int, "batch_size": int, "lr": float, "weight_decay": float,
               "drop_path": float, "auxiliary_weight": float, "seed": int, "device": str, "threads": int,
               "runs_root": str, "amp": str, "num_workers": int, "compile": bool}


def _add_option_flags(parser: argparse.ArgumentParser, kinds: Sequence[str]) -> None:
    for kind in kinds:
        parser.add_argument(f"--{kind}-option", action="append", default=None, metavar="KEY=VALUE",
                            help=f"an option for the {kind} (repeatable)")


def _overwrite_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run already in --run-dir (refused without this flag)")


def _data_root_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=None, help="folder of the dataset (imagefolder, cifar10, cifar100)")


def _distributed_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nproc", type=int, default=None, metavar="N",
                        help="run data-parallel in N local processes (torch.distributed.run, as torchrun)")
    parser.add_argument("--dist-backend", default=None, choices=("auto", "gloo", "nccl", "mpi"),
                        help="torch.distributed backend (default auto: nccl on CUDA, gloo on CPU)")


def _new_run_flags(parser: argparse.ArgumentParser) -> None:
    """What every command that starts a run takes: where it writes, how it reports, how it spreads BatchNorm."""
    parser.add_argument("--run-dir", default=None, help="directory for this run (default: RUNS_ROOT/<time>-<label>)")
    _overwrite_flag(parser)
    _logging_flags(parser)
    _tensorboard_flag(parser)
    parser.add_argument("--sync-batchnorm", action="store_const", const=True, default=None,
                        help="distributed: BatchNorm statistics over the global batch (SyncBatchNorm)")


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in the same ``nasplug: error: ...`` form (exit 2) as every other error."""

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(None if args is None else _attach_negative_numbers(args), namespace)

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"nasplug: error: {self.prog.split()[-1]}: {message}\n" if " " in self.prog
                  else f"nasplug: error: {message}\n")


def _attach_negative_numbers(argv: Sequence[str]) -> list[str]:
    """``--w-lr -inf`` -> ``--w-lr=-inf``: argparse takes ``-inf`` or ``-1e-3`` for a flag, not a value.

    Its own test only knows ``-5`` and ``-.5``; attached with ``=``, the
    value reaches the config's validator, which refuses it by name.
    """
    out: list[str] = []
    for item in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and item.startswith("-") and _is_number(item):
            out[-1] = f"{out[-1]}={item}"
        else:
            out.append(item)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _VersionAction(argparse.Action):
    """``--version``: the kernel's and every installed plugin's version (read from metadata, nothing imported)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from nasplug.plugins import installed_versions

        for line in installed_versions():
            print(line)
        parser.exit()


def _logging_flags(parser: argparse.ArgumentParser) -> None:
    """The console handler's level: INFO by default (epoch lines and progress)."""
    parser.add_argument("--quiet", action="store_true", help="warnings and errors only (no epoch lines, no progress)")
    parser.add_argument("--verbose", action="store_true", help="debug messages too")
    parser.add_argument("--log-level", type=str.upper, choices=LEVELS, default=None,
                        help="the console's logging level (overrides --quiet/--verbose)")


def _tensorboard_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tensorboard", metavar="DIR", default=None,
                        help='write TensorBoard event files to DIR (pip install "nasplug[tensorboard]")')


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasplug", description="Neural architecture search with plugins.")
    parser.add_argument("--version", action=_VersionAction, help="print the versions of nasplug and its plugins")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("plugins", help="list installed plugins, what each provides, and load errors")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--verbose", action="store_true", help="each factory's signature and first docstring line")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when a plugin failed to load")

    p = sub.add_parser("search", help="run an architecture search")
    p.add_argument("--config", help="a TOML file of SearchConfig fields (flags override it)")
    for flag, kind in SEARCH_FLAGS.items():
        p.add_argument("--" + flag.replace("_", "-"), type=kind, default=None, help=FLAG_HELP.get(flag))
    _add_option_flags(p, OPTION_FLAGS)
    _data_root_flag(p)
    _new_run_flags(p)
    p.add_argument("--rank-sampling", choices=("shared", "per-rank"), default=None,
                   help="distributed: every rank draws the same architecture, or its own (default: the strategy's)")
    _distributed_flags(p)

    p = sub.add_parser("resume", help="continue a killed search or retraining run from its last checkpoint")
    p.add_argument("run_dir", help="the run directory of the search or retraining run")
    p.add_argument("--strict", action="store_true",
                   help="refuse to resume when a plugin, nasplug or torch changed version since the run started")
    p.add_argument("--from-previous", action="store_true",
                   help="continue from checkpoint.prev.pt (when checkpoint.pt is damaged)")
    p.add_argument("--accept-unverified", action="store_true",
                   help="resume from a checkpoint without a checksum (written before nasplug checkpoints had one)")
    _logging_flags(p)
    _tensorboard_flag(p)
    _distributed_flags(p)

    p = sub.add_parser("train", help="retrain a genotype from scratch and report test accuracy, params, FLOPs")
    p.add_argument("genotype", help="a genotype.json, a search run directory, or a named genotype")
    p.add_argument("--config", help="a TOML file of TrainConfig fields")
    for flag, kind in TRAIN_FLAGS.items():
        if kind is bool:
            p.add_argument("--" + flag.replace("_", "-"), action="store_true", default=None, help=FLAG_HELP.get(flag))
        else:
            p.add_argument("--" + flag.replace("_", "-"), type=kind, default=None, help=FLAG_HELP.get(flag))
    _add_option_flags(p, ("space", "data"))
    _data_root_flag(p)
    _new_run_flags(p)
    _distributed_flags(p)

    p = sub.add_parser("sweep", help="run a grid of searches (and retrainings) as Ray tasks; a rerun resumes it")
    p.add_argument("sweep_file", help="a TOML file with [sweep], [search], [grid] and optional [train] tables; "
                                      "[search_space] and [tune] run it on Ray Tune (nasplug.sweep_tune)")
    p.add_argument("--executor", choices=("ray", "local"), default="ray",
                   help="ray (default): Ray tasks on a local instance or --address; local: one by one, no Ray")
    p.add_argument("--address", default=None, help="a running Ray cluster to join (e.g. auto or HOST:PORT)")
    p.add_argument("--root", default=None, help="output folder (default: the file's [sweep] root)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")

    p = sub.add_parser("show", help="print a run's genotype and draw its cells and architecture distribution")
    p.add_argument("run_dir", help="the run directory to describe")
    p.add_argument("--out", default=None, help="where to write the PNGs (default: the run directory)")
    from nasplug.export import command as export_command  # light: --help imports no torch

    p = sub.add_parser("export", help=export_command.COMMAND.help, description=export_command.COMMAND.help)
    export_command.add_arguments(p)
    p.set_defaults(_plugin_run=export_command.run)
    parser.set_defaults(_command_errors=_add_plugin_commands(sub))
    return parser


def _add_plugin_commands(sub) -> list[Exception]:
    """The subcommands plugins add (hook ``nasplug_cli_commands``); returns the errors of the broken ones.

    A command whose ``add_arguments`` raises stays listed, and running it
    reports the plugin's error (exit 2) instead of breaking every command.
    """
    from nasplug.cli_commands import plugin_commands
    from nasplug.errors import PluginLoadError
    from nasplug.plugins import load_plugins

    commands, errors = plugin_commands(load_plugins(), reserved=set(sub.choices))
    for name, entry in sorted(commands.items()):
        p = sub.add_parser(name, help=f"{entry.command.help} [{entry.plugin}]", description=entry.command.help)
        try:
            entry.command.add_arguments(p)
            p.set_defaults(_plugin_run=entry.command.run)
        except Exception as exc:
            error = PluginLoadError(entry.plugin, None, f"adding the arguments of command {name!r}", exc)
            errors.append(error)
            del sub.choices[name]
            sub._choices_actions[:] = [a for a in sub._choices_actions if a.dest != name]
            # no flags (every token is taken as is), so running it reaches the error report
            p = sub.add_parser(name, help=f"(broken, see `nasplug plugins`) [{entry.plugin}]", prefix_chars="\0",
                               add_help=False)
            p.add_argument("args", nargs="*", help="ignored")
            p.set_defaults(_broken=error)
    return errors


def _collect(args: argparse.Namespace, flags: dict[str, Any], option_kinds: Sequence[str],
             section: str) -> dict[str, Any]:
    """TOML file values, then the flags the user actually gave."""
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        data = load_toml(args.config)
        table = data.get(section, data)
        if not isinstance(table, dict):
            raise ConfigError(f"config file {args.config!r}: [{section}] must be a table of fields, got {table!r}")
        values.update(table)
    for flag in flags:
        value = getattr(args, flag, None)
        if value is not None:
            values[flag] = value
    for kind in option_kinds:
        items = getattr(args, f"{kind}_option", None)
        field = {"optimizer": "optimizer_options", "latency": "latency_options"}.get(kind, f"{kind}_options")
        if items:
            values[field] = {**_table(values, field), **parse_options(items)}
    if getattr(args, "data_root", None):
        values["data_options"] = {**_table(values, "data_options"), "root": args.data_root}
    return values


def _table(values: dict[str, Any], field: str) -> dict[str, Any]:
    """``values[field]`` as a mapping to merge flags into; a TOML scalar there is an error naming the field."""
    table = values.get(field, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{field} must be a table of KEY = VALUE options, got {table!r}")
    return table


def cmd_plugins(args) -> int:
    from nasplug.plugin_listing import error_record, listing, text_lines

    report = listing(registry_module.default_registry(), verbose=args.verbose)
    report["errors"] += [error_record(e) for e in getattr(args, "_command_errors", ())]
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print("\n".join(text_lines(report, verbose=args.verbose)))
    return 1 if args.strict and report["errors"] else 0


def cmd_search(args) -> int:
    from nasplug.pipeline import Pipeline

    values = _collect(args, {**SEARCH_FLAGS, "sync_batchnorm": bool, "rank_sampling": str}, OPTION_FLAGS, "search")
    pipeline = Pipeline(run_dir=args.run_dir, verbose=not args.quiet, overwrite=args.overwrite,
                        tensorboard=args.tensorboard, **values)
    return _report_search(pipeline.search())


def _report_search(result) -> int:
    from nasplug import distributed

    if not distributed.context().writes_files:
        return 0  # rank 0 reports for a distributed search
    print(f"genotype: {result.genotype}")
    if result.benchmark:
        print("benchmark: " + json.dumps(result.benchmark, sort_keys=True))
    print(f"run directory: {result.run_dir}")
    data = registry_module.default_registry().shortest_name("dataset", result.config.data)  # qualified if shared
    genotype = shlex.quote(f"{result.run_dir}/genotype.json")
    print(f"retrain it with: nasplug train {genotype} --data {data}" + data_option_flags(result.config.data_options))
    return 0


def data_option_flags(options: Mapping[str, Any] | None) -> str:
    """`` --data-option KEY=VALUE`` for each of a run's data options, quoted for a shell and read back by
    :func:`~nasplug.cli_options.parse_value` as the same value (an image folder's ``root`` above all: a retrain
    hint without it would point ``nasplug train`` at no folder)."""
    flags = []
    for key, value in sorted((options or {}).items()):
        text = value if isinstance(value, str) else json.dumps(value)
        flags.append(f" --data-option {shlex.quote(f'{key}={text}')}")
    return "".join(flags)


def _board(args):
    """The TensorBoard logger ``--tensorboard DIR`` asks for (a one-line error when tensorboard is missing)."""
    from nasplug import distributed

    if not getattr(args, "tensorboard", None) or distributed.launched_rank() != 0:  # rank 0 writes the events
        return None
    from nasplug.tensorboard import TensorBoardLogger

    return TensorBoardLogger(args.tensorboard)


def cmd_resume(args) -> int:
    from nasplug.search.run import SearchRun
    from nasplug.train import Trainer, is_training_run

    log = logging.getLogger(__name__)
    board = _board(args)  # the continued epochs are appended to the same event directory when it is given again
    try:
        if is_training_run(Path(args.run_dir)):
            trainer = Trainer.resume(args.run_dir, verbose=not args.quiet, from_previous=args.from_previous,
                                     unverified_ok=args.accept_unverified)
            trainer.callbacks += [board] if board is not None else []
            log.info(f"resuming retraining {args.run_dir} at epoch {trainer.epoch}/{trainer.config.epochs}")
            return _report_train(trainer.run())
        run = SearchRun.resume(args.run_dir, callbacks=[board] if board is not None else (),
                               verbose=not args.quiet, from_previous=args.from_previous, strict=args.strict,
                               unverified_ok=args.accept_unverified)
        log.info(f"resuming {args.run_dir} at epoch {run.state.epoch}/{run.config.epochs}")
        result = run.run()
        if board is not None:
            board.finish(result)  # the final genotype; a write that fails only warns
        return _report_search(result)
    finally:
        if board is not None:
            board.close()


def cmd_train(args) -> int:
    from nasplug.train import train

    values = _collect(args, {**TRAIN_FLAGS, "sync_batchnorm": bool}, ("space", "data"), "train")
    board = _board(args)
    try:
        result = train(args.genotype, TrainConfig.from_dict(values), run_dir=args.run_dir, verbose=not args.quiet,
                       overwrite=args.overwrite, callbacks=[board] if board is not None else ())
    finally:
        if board is not None:
            board.close()
    return _report_train(result)


def _report_train(result) -> int:
    from nasplug import distributed

    if not distributed.context().writes_files:
        return 0  # rank 0 reports for a distributed retraining
    print(f"genotype: {result.genotype}")
    print(f"test accuracy: {result.test_accuracy:.4f}  parameters: {result.parameters:,}  "
          f"MACs: {result.macs:,}")
    print(f"run directory: {result.run_dir}")
    if result.run_dir is not None:
        print(f"export it with: nasplug export {result.run_dir} --format pt|torchscript|onnx")
    return 0


def cmd_sweep(args) -> int:
    from nasplug.config import load_toml, max_threads
    from nasplug.sweep import load_sweep, run_sweep
    from nasplug.sweep_file import check_root
    from nasplug.sweep_tune import is_tune_file, load_tune_sweep, run_tune_sweep

    if args.num_cpus is not None and not 1 <= args.num_cpus <= max_threads():
        raise ConfigError(f"--num-cpus must be an integer in [1, {max_threads()}] (CPUs of the local Ray instance), "
                          f"got {args.num_cpus}")
    ray_init = {"num_cpus": args.num_cpus} if args.num_cpus else None
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if is_tune_file(load_toml(args.sweep_file)):  # [search_space] / [tune]: Ray Tune (nasplug.sweep_tune)
        tuned = load_tune_sweep(args.sweep_file)
        root = check_root(args.root, "--root") if args.root is not None else tuned.root
        import attrs

        rows = run_tune_sweep(attrs.evolve(tuned, root=root), args.executor, args.address, ray_init, log)
    else:
        sweep = load_sweep(args.sweep_file)
        root = check_root(args.root, "--root") if args.root is not None else sweep.root
        rows = run_sweep(sweep.trials, root, executor=args.executor, address=args.address, ray_init=ray_init,
                         log=log)
    stopped = [r for r in rows if r["status"] == "stopped_early"]
    failed = [r["trial"] for r in rows if r["status"] not in ("done", "stopped_early")]
    print(f"summary: {root / 'summary.csv'} ({len(rows) - len(failed) - len(stopped)} done, "
          f"{len(stopped)} stopped early, {len(failed)} failed)")
    for row in stopped:
        print(f"  stopped early: {row['trial']} after epoch {row['stopped_at_epoch']}")
    if failed:
        print(f"nasplug: error: {len(failed)} trial(s) failed: {', '.join(failed)}; see summary.json, "
              f"rerun the same command to retry them", file=sys.stderr)
        return 1
    return 0


def cmd_show(args) -> int:
    from nasplug.viz import show_run

    for line in show_run(Path(args.run_dir), Path(args.out) if args.out else None):
        print(line)
    return 0


COMMANDS = {"plugins": cmd_plugins, "search": cmd_search, "resume": cmd_resume, "train": cmd_train,
            "show": cmd_show, "sweep": cmd_sweep}


def _without_nproc(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            out.append(item)
    return out


def _say_error(exc: NasplugError) -> int:
    from nasplug import distributed
    from nasplug.divergence import DivergenceError

    # every rank meets the same configuration error and divergence (the ranks agree on it): rank 0 says it
    if distributed.launched_rank() == 0 or not isinstance(exc, (ConfigError, DivergenceError,
                                                                distributed.SaidByRankZero)):
        print(f"nasplug: error: {exc}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """The ``nasplug`` command; its exit status.

    A rank started by torch's launcher does not return: it leaves through
    :func:`nasplug.distributed.exit_process` once its output is flushed.
    Called as the process's own command (``argv`` None: the ``nasplug`` script, ``python -m nasplug``),
    it ignores SIGTERM and SIGINT once the status is decided: what is left is the interpreter's exit (torch's
    teardown takes a while), where a signal would turn a finished command into a silent kill (exit 143).
    """
    from nasplug.signals import hold_signals

    with hold_signals():  # a SIGTERM while starting up is a request: the command stops at its first check
        status = _run_command(argv)
    if argv is None:
        from nasplug.signals import ignore_signals_for_exit

        ignore_signals_for_exit()
    from nasplug import distributed  # not before: parsing and --help must not import torch

    if distributed.launched():
        distributed.exit_process(status)
    return status


def _run_command(argv: Sequence[str] | None) -> int:
    from nasplug.signals import Stopped, stop_on_signals
    from nasplug.signals import check as check_signals

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from nasplug import distributed

    logging_flags = hasattr(args, "log_level")  # `plugins --verbose` means signatures, not debug messages
    level = level_from_flags(getattr(args, "quiet", False), logging_flags and getattr(args, "verbose", False),
                             getattr(args, "log_level", None))
    if distributed.launched() and os.environ.get("RANK", "0") != "0":
        level = max(level, logging.WARNING)  # rank 0 tells the story of a distributed run
    try:
        if getattr(args, "dist_backend", None):
            os.environ["NASPLUG_DIST_BACKEND"] = args.dist_backend
        nproc = getattr(args, "nproc", None)
        if nproc is not None and not distributed.launched():
            distributed.check_launch(nproc, getattr(args, "dist_backend", None) or "auto",
                                     getattr(args, "device", None) or "cpu")
            if args.command == "resume" and os.path.isdir(args.run_dir):
                from nasplug.run_directory import recorded_world_size

                recorded_world_size(args.run_dir)  # a damaged distributed.json: one line, before any rank
        if nproc and nproc > 1 and not distributed.launched():
            return distributed.launch(nproc, _without_nproc(argv))
        finished = False  # every rank ended the command the same way (see distributed.shutdown)
        try:
            with stop_on_signals(keep_pending=True), console_logging(level):
                try:
                    check_signals(0, 0)  # one that arrived while starting up: stop before the command begins
                    if getattr(args, "_broken", None) is not None:
                        raise args._broken
                    if args.command not in COMMANDS:  # a plugin's command
                        status = args._plugin_run(args)
                        status = 0 if status is None else int(status)
                    else:
                        status = COMMANDS[args.command](args)
                    finished = True
                    return status
                except Stopped as exc:
                    finished = True  # the ranks agree on the step they stop at
                    # said while a signal only sets a flag: the launcher's SIGTERM, sent to rank 0 when another
                    # rank has stopped first, cannot cut the line off; rank 0 says where (the others wrote nothing)
                    if distributed.launched_rank() == 0:
                        print(f"nasplug: {exc}", file=sys.stderr)
                    return exc.exit_code
                except NasplugError as exc:  # said here for the same reason
                    return _say_error(exc)
        finally:
            if distributed.launched():
                distributed.shutdown(finished)
    except NasplugError as exc:
        return _say_error(exc)
    except KeyboardInterrupt:
        print("nasplug: interrupted; `nasplug resume RUN_DIR` continues from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
