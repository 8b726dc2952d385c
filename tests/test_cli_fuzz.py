"""Fuzzed command lines and TOML files end in a run or in one ``nasplug: error:`` line with exit 2:
never a traceback, never a hang (issue 16 item 5).

Each example starts from a tiny valid search (nb201 C=4 N=1, one epoch of one step, digits or a generated
image folder) and changes a few flags, options or TOML lines to values drawn from pools of the kinds that
broke before: unknown names, zero, negative, NaN, infinite and huge numbers, wrong types, unknown keys,
missing or empty data roots, folders without images, with one class, with corrupt, mixed-size or
grayscale images.
"""

import contextlib
import io
import itertools
import re
import signal

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from nasplug.cli import main

BASE = ["search", "--space", "nb201", "--strategy", "random", "--space-option", "C=4", "--space-option", "N=1",
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "16", "--eval-batches", "1",
        "--optimizer-option", "num_candidates=2", "--optimizer-option", "screen_batches=1",
        "--optimizer-option", "top_k=1", "--quiet"]

NUMBERS = ["0", "-1", "nan", "inf", "-inf", "1e300", "99999999999999999999", "abc", "", "1.5", "true", "[1]"]
FLAGS = {
    "--epochs": ["1", "2"], "--batch-size": ["8", "100000"], "--valid-batch-size": ["8"],
    "--steps-per-epoch": ["1", "2"], "--train-portion": ["0.5", "0.999", "1"], "--w-lr": ["0.05", "1e30"],
    "--arch-lr": ["0.01"], "--seed": ["3", "18446688733641", "18446688733642", "-5"], "--threads": ["1", "100000"],
    "--eval-batches": ["1"], "--latency-target": ["1", "0"], "--space": ["nb201", "bogus", "NB201"],
    "--strategy": ["random", "gdass", "tunas"], "--data": ["digits", "imagefolder", "cifar10", "bogus"],
    "--sampler": ["uniform", "bogus"], "--arch-optimizer": ["random", "bogus"], "--reward": ["absolute", "bogus"],
    "--latency-model": ["flops", "bogus"], "--device": ["cpu", "cuda", "cuda:abc", "mps", "tpu"],
    "--on-nonfinite": ["stop", "skip", "maybe"], "--benchmark": ["bogus"], "--bogus-flag": ["1"],
}
OPTIONS = {
    "--space-option": {"C": ["4", "100000000", "2.5"], "N": ["1", "1000000"], "bogus": ["1"], "": ["1"]},
    "--data-option": {"limit_train": ["200", "-5", "1.5"], "test_fraction": ["0.3", "1"],
                      "augment": ["true", "maybe"], "size": ["8", "1", "-4", "100000"], "root": ["5"],
                      "bogus": ["1"]},
    "--optimizer-option": {"num_candidates": ["2"], "bogus": ["1"]},
    "--sampler-option": {"bogus": ["1"]},
    "--reward-option": {"beta": ["abc", "-0.1"]},
    "--latency-option": {"bogus": ["1"]},
}
TOML_LINES = ["epochs = 0", 'arch_betas = ["a", "b"]', "arch_betas = [0.5]", "runs_root = 5", "seed = 1.5",
              "bogus_key = 1", "grad_clip = -1", "grad_clip = 0", "w_lr = nan", "epochs = ", 'space = "nb201"',
              "threads = 1", "[search.space_options]\nC = \"x\"", "[search]\nepochs = 1", "steps_per_epoch = 1.0",
              "w_nesterov = \"yes\"", "space_options = 3", "train_portion = inf"]
ROOTS = ["good", "gray-mixed", "one-class", "corrupt", "empty", "no-images", "missing"]


def _images(folder, count, size, mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        color = (k * 7) % 255 if mode == "L" else ((k * 7) % 255, (k * 13) % 255, 90)
        Image.new(mode, (size, size), color=color).save(folder / f"{k}.png")


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    _images(base / "good" / "a", 40, 8)
    _images(base / "good" / "b", 40, 8)
    _images(base / "gray-mixed" / "a", 40, 8, "L")
    _images(base / "gray-mixed" / "b", 40, 9)
    _images(base / "one-class" / "a", 40, 8)
    _images(base / "corrupt" / "a", 40, 8)
    _images(base / "corrupt" / "b", 40, 8)
    (base / "corrupt" / "b" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (base / "empty").mkdir()
    (base / "no-images" / "a").mkdir(parents=True)
    (base / "no-images" / "a" / "readme.txt").write_text("no images here")
    return base


def pool(values):
    """A value from the flag's own pool (mostly sensible) or the shared pool of bad numbers, even odds."""
    return st.one_of(st.sampled_from(values), st.sampled_from(NUMBERS))


def change():
    flag = st.sampled_from(sorted(FLAGS)).flatmap(
        lambda f: pool(FLAGS[f]).map(lambda v: ("flag", f, v)))
    option = st.sampled_from(sorted(OPTIONS)).flatmap(
        lambda kind: st.sampled_from(sorted(OPTIONS[kind])).flatmap(
            lambda key: pool(OPTIONS[kind][key]).map(lambda v: ("option", kind, f"{key}={v}"))))
    root = st.sampled_from(ROOTS).map(lambda r: ("root", r, None))
    toml = st.lists(st.sampled_from(TOML_LINES), min_size=1, max_size=3).map(lambda ls: ("toml", ls, None))
    return st.one_of(flag, option, root, toml)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


counter = itertools.count()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=st.lists(change(), min_size=0, max_size=3))
def test_fuzzed_command_lines_run_or_fail_in_one_line(roots, changes):
    k = next(counter)
    argv = list(BASE)
    for kind, a, b in changes:
        if kind == "flag":
            argv += [a, b] if not b.startswith("-") else [f"{a}={b}"]
        elif kind == "option":
            argv += [a, b]
        elif kind == "root":
            argv += ["--data-root", str(roots / a)]
        else:
            path = roots / f"config{k}.toml"
            path.write_text("\n".join(a) + "\n")
            argv += ["--config", str(path)]
    argv += ["--run-dir", str(roots / f"run{k}")]

    threads = torch.get_num_threads()
    err, out = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(120)  # a hang fails the example instead of the whole suite
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        torch.set_num_threads(threads)
    text = err.getvalue()
    event(f"exit {code}")  # --hypothesis-show-statistics: how many examples ran, how many were refused
    assert "Traceback" not in text, (argv, text)
    assert code in (0, 2), (argv, code, text)
    if code == 0:
        assert "genotype: |" in out.getvalue(), (argv, out.getvalue())
    else:
        lines = [l for l in text.splitlines() if l.strip()]
        assert re.match(r"nasplug: error: \S", lines[-1]), (argv, text)
        assert sum(l.startswith("nasplug: error:") for l in lines) == 1, (argv, text)
