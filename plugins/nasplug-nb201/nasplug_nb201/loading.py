"""Reading NAS-Bench-201 tables from what a user has on disk.

Two forms are read:

* the CSV form: a directory with ``accuracy.csv`` (row i = topology index i;
  columns ``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs``,
  ``ImageNetTestAccuracy200Epochs``, ``ArchitectureString``) and/or
  ``latency_ms.csv`` (``arch_idx`` then one column per device, in ms).  A
  user's own latency table in this form adds its columns as devices.
* the official release, when the user has it: a NATS-Bench topology
  directory or a NAS-Bench-201 ``.pth`` file, read through the official
  ``nats_bench`` / ``nas_201_api`` package when one is importable, else (for
  a ``.pth``) by ``torch.load`` and the file's documented layout.  Neither
  package is a dependency; this path is guarded and optional.

Tables are cached per resolved path and modification time, so a benchmark
and a latency model that name the same directory parse it once.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

from nasplug.errors import ConfigError
from nasplug.spaces.nb201 import NB201Genotype
from nasplug_nb201.table import DATASETS, NB201Table

ACCURACY_FILE = "accuracy.csv"
LATENCY_FILE = "latency_ms.csv"
ACCURACY_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
STRING_COLUMN = "ArchitectureString"
INDEX_COLUMN = "arch_idx"
#: the environment variable tests and benchmarks read the data directory from
ENV_DIR = "NASPLUG_NB201_DIR"

_CACHE: dict[tuple, NB201Table] = {}


def _float(text: str) -> float:
    text = (text or "").strip()
    return float(text) if text else math.nan


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ConfigError(f"{str(path)!r} is empty") from None
        return header, [row for row in reader if row]


def read_accuracy_csv(path: Path) -> tuple[list[str], dict[str, list[float]]]:
    """Benchmark strings (row order = topology index) and accuracy columns present in the file."""
    header, rows = _read_csv(path)
    if STRING_COLUMN not in header:
        raise ConfigError(f"{str(path)!r} has no {STRING_COLUMN!r} column; columns: {', '.join(header)}")
    s = header.index(STRING_COLUMN)
    strings = [row[s].strip() for row in rows]
    accuracy = {}
    for dataset, column in ACCURACY_COLUMNS.items():
        if column in header:
            c = header.index(column)
            accuracy[dataset] = [_float(row[c]) for row in rows]
    if not accuracy:
        raise ConfigError(f"{str(path)!r} has none of the accuracy columns {', '.join(ACCURACY_COLUMNS.values())}")
    return strings, accuracy


def read_latency_csv(path: Path, strings: list[str] | None) -> tuple[list[str], dict[str, list[float]]]:
    """Latency columns of ``path`` aligned to ``strings`` (the accuracy table's rows).

    Rows are matched by ``arch_idx`` (the topology index) or, when the file
    has an ``ArchitectureString`` column, by string; with neither an
    accuracy table nor strings there is no way to know which cell a row is.
    """
    header, rows = _read_csv(path)
    devices = [h for h in header if h not in (INDEX_COLUMN, STRING_COLUMN)]
    if not devices:
        raise ConfigError(f"{str(path)!r} has no device columns besides {INDEX_COLUMN!r}")
    cols = {d: header.index(d) for d in devices}
    if STRING_COLUMN in header:
        s = header.index(STRING_COLUMN)
        keys = [op_string(row[s]) for row in rows]
        if strings is None:
            strings = keys
        position = {string: i for i, string in enumerate(strings)}
        try:
            where = [position[k] for k in keys]
        except KeyError as exc:
            raise ConfigError(f"{str(path)!r} lists a cell {exc} that the accuracy table lacks") from exc
    elif INDEX_COLUMN in header:
        if strings is None:
            raise ConfigError(f"{str(path)!r} names cells by {INDEX_COLUMN!r} only; put {ACCURACY_FILE} beside it "
                              f"(it maps indices to cells) or add an {STRING_COLUMN!r} column")
        i = header.index(INDEX_COLUMN)
        where = [int(float(row[i])) for row in rows]
        bad = [w for w in where if not 0 <= w < len(strings)]
        if bad:
            raise ConfigError(f"{str(path)!r} has {INDEX_COLUMN} {bad[0]} outside 0..{len(strings) - 1}")
    else:
        raise ConfigError(f"{str(path)!r} needs an {INDEX_COLUMN!r} or {STRING_COLUMN!r} column")
    latency = {d: [math.nan] * len(strings) for d in devices}
    for row, w in zip(rows, where):
        for d, c in cols.items():
            latency[d][w] = _float(row[c])
    return strings, latency


def op_string(text: str) -> str:
    """The canonical benchmark string (validates it)."""
    return NB201Genotype.from_string(text).to_string()


def load_csv(path: str | Path, latency_path: str | Path | None = None) -> NB201Table:
    """A table from the CSV form: a directory holding accuracy.csv and/or latency_ms.csv, or one such file."""
    path = Path(path).expanduser()
    if path.is_dir():
        acc_file = path / ACCURACY_FILE if (path / ACCURACY_FILE).exists() else None
        lat_file = path / LATENCY_FILE if (path / LATENCY_FILE).exists() else None
    elif path.is_file():
        acc_file, lat_file = (None, path) if path.name == LATENCY_FILE else (path, None)
    else:
        raise ConfigError(f"NAS-Bench-201 path {str(path)!r} does not exist")
    if latency_path is not None:
        lat_file = Path(latency_path).expanduser()
        if not lat_file.is_file():
            raise ConfigError(f"latency table {str(lat_file)!r} does not exist")
    if acc_file is None and lat_file is None:
        raise ConfigError(f"{str(path)!r} holds neither {ACCURACY_FILE} nor {LATENCY_FILE}")
    strings, accuracy, latency = None, {}, {}
    if acc_file is not None:
        strings, accuracy = read_accuracy_csv(acc_file)
    if lat_file is not None:
        strings, latency = read_latency_csv(lat_file, strings)
    return NB201Table(strings, accuracy, latency, source=str(path))


# -- the official release (optional) ---------------------------------------
def _official_api(path: Path):
    """The official API object for ``path``, or None when no official package is importable."""
    try:  # NATS-Bench, the maintained successor: a directory or a .pickle.pbz2 file
        from nats_bench import create  # type: ignore[import-not-found]

        return create(str(path), "tss", fast_mode=True, verbose=False)
    except ImportError:
        pass
    try:
        from nas_201_api import NASBench201API  # type: ignore[import-not-found]

        return NASBench201API(str(path), verbose=False)
    except ImportError:
        return None


def load_official(path: str | Path) -> NB201Table:
    """A table from the official NAS-Bench-201 / NATS-Bench release (test accuracy, 200-epoch schedule).

    Through the official package: ``get_more_info(i, dataset, hp='200')['test-accuracy']``
    (averaged over the benchmark's seeds), the same numbers the CSV form holds.
    Without it, a ``.pth`` file is read with :func:`torch.load` (see :func:`_parse_pth`).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"NAS-Bench-201 release {str(path)!r} does not exist")
    api = _official_api(path)
    if api is not None:
        n = len(api)
        strings = [op_string(api.arch(i)) for i in range(n)]
        accuracy = {d: [] for d in DATASETS}
        for i in range(n):
            for d in DATASETS:
                try:
                    info = api.get_more_info(i, d, hp="200", is_random=False)
                except TypeError:  # nas_201_api's older signature
                    info = api.get_more_info(i, d, None, False, False)
                accuracy[d].append(float(info["test-accuracy"]))
        return NB201Table(strings, accuracy, source=str(path))
    if path.suffix == ".pth":
        return _parse_pth(path)
    raise ConfigError(f"{str(path)!r} is not a CSV table directory; reading the official release needs the "
                      f"'nats_bench' or 'nas_201_api' package, or a NAS-Bench-201 .pth file")


def _parse_pth(path: Path) -> NB201Table:
    """Read NAS-Bench-201-v1_x.pth without its package.

    The file is a dict: ``meta_archs`` (strings by index) and ``arch2infos``
    {index: {'full': ArchResults state}}, an ArchResults state holding
    ``all_results`` {(dataset, seed): ResultsCount state} whose
    ``eval_acc1es`` maps ``'<split>@<epoch>'`` to accuracy.  Test accuracy is
    split ``ori-test`` for cifar10 and ``x-test`` for the other two datasets
    at the last epoch, averaged over seeds, as the official API does.  It is
    loaded with ``weights_only=True`` (plain containers only): a release that
    needs arbitrary classes to unpickle is refused, since unpickling it could
    run code; read such a file through the official package.  Not
    checked against a real file here (it is 2 GB); use the official package
    when in doubt.
    """
    from nasplug.rundir import safe_torch_load

    data: Any = safe_torch_load(path, map_location="cpu")
    try:
        metas = data["meta_archs"]
        infos = data["arch2infos"]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{str(path)!r} does not look like a NAS-Bench-201 release (no {exc})") from exc
    strings = [op_string(metas[i]) for i in range(len(metas))]
    split = {"cifar10": "ori-test", "cifar100": "x-test", "ImageNet16-120": "x-test"}
    accuracy = {d: [math.nan] * len(strings) for d in DATASETS}
    for i in range(len(strings)):
        results = infos[i]["full"]["all_results"]
        for d in DATASETS:
            values = []
            for (dataset, _seed), rc in results.items():
                if dataset != d:
                    continue
                key = f"{split[d]}@{int(rc['epochs']) - 1}"
                if key in rc["eval_acc1es"]:
                    values.append(float(rc["eval_acc1es"][key]))
            if values:
                accuracy[d][i] = sum(values) / len(values)
    return NB201Table(strings, accuracy, source=str(path))


def load_table(path: str | Path, latency_path: str | Path | None = None) -> NB201Table:
    """The table at ``path`` (CSV form or official release), cached per file state."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"NAS-Bench-201 path {str(path)!r} does not exist; give the directory that holds "
                          f"{ACCURACY_FILE}/{LATENCY_FILE} or the official release")
    resolved = path.resolve()
    key = (str(resolved), _stamp(resolved), None if latency_path is None else str(Path(latency_path).resolve()))
    if key not in _CACHE:
        is_csv = (resolved.is_dir() and any((resolved / f).exists() for f in (ACCURACY_FILE, LATENCY_FILE))) or \
            resolved.suffix == ".csv"
        if is_csv:
            table = load_csv(resolved, latency_path)
        else:
            table = load_official(resolved)
            if latency_path is not None:
                strings, latency = read_latency_csv(Path(latency_path).expanduser(), table.strings)
                table = NB201Table(strings, table.accuracy, latency, source=table.source)
        _CACHE[key] = table
    return _CACHE[key]


def _stamp(path: Path) -> tuple:
    files = [path / ACCURACY_FILE, path / LATENCY_FILE] if path.is_dir() else [path]
    return tuple(os.stat(f).st_mtime_ns if f.exists() else None for f in files)


def default_dir(repo_root: str | Path | None = None) -> Path:
    """$NASPLUG_NB201_DIR, else ``../shared/data/nb201`` beside the repository (for tests and benchmarks only)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    root = Path(repo_root) if repo_root is not None else Path(__file__).resolve().parents[3]
    return root.parent / "shared" / "data" / "nb201"
