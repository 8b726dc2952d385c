"""Fuzzed TOML files, JSON files and image folders: every reader returns data or raises nasplug's own one-line
error (a ``NasplugError`` naming the file), never another exception (issue 25: RecursionError on deep nesting,
TypeError on scalar tables, UnicodeDecodeError on bad bytes, dates...)."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasplug.errors import NasplugError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

# pieces of TOML and JSON of the kinds that broke readers before
TOML_PIECES = ["search = 5", "grid = 5", "train = 5", "sweep = 5", "[sweep]", "[search]", "[grid]", "[train]",
               "[bogus]", 'root = ""', "root = 5", "num_cpus = inf", "num_cpus = nan", "num_cpus = 1e300",
               "num_cpus = -5", 'retrain = "yes"', "retrain = true", '"epochs.x" = [1]', '"space_options.C" = [4]',
               "seed = [0, 1]", "seed = []", "seed = 3", "epochs = 1979-05-27", "epochs = 07:32:00",
               "w_lr = 1e308", "w_lr = 0.1", 'space = "nb201"', "space_options = {C = 4}", "space_options = 3",
               "epochs = 1", 'sync_batchnorm = "yes"', "x = " + "[" * 300 + "]" * 300, "epochs = [[[[1]]]]",
               "[search.space_options]", "C = 4", "lr = -1", 'strategy = ["gdas", "random"]']
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=20)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@FUZZ
@given(st.lists(st.sampled_from(TOML_PIECES), max_size=8), st.sampled_from([b"", b"\xff", b"\x00", b"\x80abc"]))
def test_sweep_file_reader_never_escapes(tmp_path_factory, pieces, junk):
    from nasplug.sweep import load_sweep

    path = tmp_path_factory.mktemp("sweep") / "s.toml"
    path.write_bytes("\n".join(pieces).encode() + b"\n" + junk)
    try:
        sweep = load_sweep(path)
    except NasplugError as exc:
        assert "\n" not in str(exc)
        return
    assert str(sweep.root).strip() and 1 <= len(sweep.trials) <= 10_000
    for trial in sweep.trials:
        json.dumps(trial.search)  # plain data: no dates, no absurd nesting


@FUZZ
@given(st.lists(st.sampled_from(TOML_PIECES), max_size=8))
def test_search_config_from_toml_never_escapes(tmp_path_factory, pieces):
    from nasplug.config import SearchConfig, load_toml

    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text("\n".join(pieces) + "\n")
    try:
        data = load_toml(path)
        table = data.get("search", data)
        if isinstance(table, dict):
            config = SearchConfig.from_dict(table)
            json.dumps(config.to_dict())
    except NasplugError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(JSON_VALUES, st.integers(0, 200), st.sampled_from(["object", "raw", "bytes"]))
def test_run_file_json_readers_never_escape(tmp_path_factory, value, depth, form):
    from nasplug.rundir import read_json, read_jsonl

    folder = tmp_path_factory.mktemp("run")
    text = json.dumps({"genotype": value, "deep": json.loads(_deep(max(1, min(depth, 60))))})
    if form == "raw":
        text = _deep(depth * 500)
    elif form == "bytes":
        text = text[: depth % (len(text) + 1)]
    (folder / "x.json").write_text(text)
    (folder / "m.jsonl").write_text(text + "\n" + json.dumps({"epoch": 0}) + "\n")
    for read in (lambda: read_json(folder / "x.json", "a record"), lambda: read_jsonl(folder / "m.jsonl")):
        try:
            data = read()
        except NasplugError as exc:
            assert "\n" not in str(exc) and str(folder) in str(exc)
            continue
        json.dumps(data)  # whatever is accepted can be written back


@FUZZ
@given(st.one_of(st.integers(0, 2000).map(_deep), st.text(max_size=30),
                 JSON_VALUES.map(lambda v: json.dumps(v, allow_nan=True))))
def test_option_values_never_escape(text):
    from nasplug.cli_options import parse_options

    try:
        options = parse_options([f"C={text}"])
    except NasplugError as exc:
        assert "\n" not in str(exc)
        return
    json.dumps(options, allow_nan=True)


# -- image folders -----------------------------------------------------------------------------------
def _png(size: int, mode: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (size, size), color=0 if mode == "L" else (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


FILES = st.sampled_from(["png8", "png9", "gray8", "empty", "garbage", "truncated", "text.txt", "subdir"])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(["a", "b", "c", ".hidden"]), st.lists(FILES, max_size=4), max_size=3),
       st.sampled_from([None, 8]))
def test_image_folder_loader_never_escapes(tmp_path_factory, classes, size):
    from nasplug.data.sources import image_folder

    root = tmp_path_factory.mktemp("images")
    for name, files in classes.items():
        folder = root / name
        folder.mkdir()
        for k, kind in enumerate(files):
            target = folder / f"{k}.png"
            if kind == "png8":
                target.write_bytes(_png(8, "RGB"))
            elif kind == "png9":
                target.write_bytes(_png(9, "RGB"))
            elif kind == "gray8":
                target.write_bytes(_png(8, "L"))
            elif kind == "empty":
                target.write_bytes(b"")
            elif kind == "garbage":
                target.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(40)))
            elif kind == "truncated":
                target.write_bytes(_png(8, "RGB")[:30])
            elif kind == "text.txt":
                (folder / f"{k}.txt").write_text("not an image")
            else:
                (folder / f"sub{k}").mkdir()
    try:
        bundle = image_folder(str(root), size=size, test_fraction=0.5, augment=False)
    except NasplugError as exc:
        assert "\n" not in str(exc)
        return
    assert len(bundle.train) + len(bundle.test) > 0
