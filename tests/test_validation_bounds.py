"""Every value and name the user gives is checked where it enters, with the allowed range in the message
(issue 17 items 3-7)."""

import errno
import os
import types

import pytest
from PIL import Image

from nasplug import hookimpl
from nasplug.cli import main
from nasplug.errors import ConfigError
from nasplug.plugins import load_plugins
from nasplug.registry import Registry, default_registry
from nasplug.search.run import SearchRun, merged_config

from rundir_helpers import TINY, TINY_ARGS

SEARCH = ["search", *TINY_ARGS, "--epochs", "1", "--quiet"]


def error_of(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nasplug: error: "), (code, err)
    return lines[0]


@pytest.mark.parametrize("extra, fragment", [
    (["--threads", "5000"], "threads must be an integer in [1, "),
    (["--threads", "1000000"], "threads must be an integer in [1, "),
    (["--seed", "18446744073709551615"], "seed must be an integer in [0, 18446688733641]"),
    (["--seed", "-1"], "seed must be an integer in [0, "),
    (["--epochs", "1000000000"], "epochs must be an integer in [1, 1000000]"),
    (["--space-option", "N=1000000"], "NB201Space.N must be an integer in [1, 100]"),
    (["--space-option", "C=100000000"], "parameters, about"),
    (["--w-lr=-inf"], "w_lr must be a positive number, got -inf"),
    (["--latency-model", "bogus"], "unknown latency model 'bogus'"),
    (["--latency-model", "flops"], "latency_model='flops' given, but no latency target"),
    (["--reward-option", "beta=abc"], "reward_options={'beta': 'abc'} given, but no latency target"),
    (["--reward", "absolute", "--latency-target", "1", "--reward-option", "beta=abc"], "beta (the cost exponent) must be a finite number <= 0, got 'abc'"),
    (["--data-option", "augment=maybe"], "option augment='maybe' is not allowed; it must be true or false"),
    (["--data-option", "limit_train=abc"], "option limit_train='abc' is not allowed"),
    (["--data-option", "test_fraction=abc"], "option test_fraction='abc' is not allowed"),
    (["--device", "cuda:abc"], "device must be 'cpu', 'cuda', 'cuda:N'"),
    (["--device", "mps"], "has no MPS"),
    (["--device", "cuda:7"], "CUDA device"),
])
def test_search_values_out_of_range_are_one_line_errors(extra, fragment, capsys, tmp_path):
    if "mps" in extra and getattr(__import__("torch").backends, "mps", None) and \
            __import__("torch").backends.mps.is_available():
        pytest.skip("this machine has MPS")
    if "absolute" in extra and "absolute" not in default_registry().names("reward"):
        pytest.skip("nasplug-tunas is not installed")
    if "cuda:7" in extra and __import__("torch").cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    assert fragment in error_of([*SEARCH, *extra, "--run-dir", str(tmp_path / "run")], capsys)
    # refused before a run was recorded: the same command with the value fixed is not refused as an overwrite
    assert not (tmp_path / "run" / "config.json").exists()


def test_tunas_without_a_latency_target_is_an_error_not_a_silent_downgrade(capsys):
    if "tunas" not in default_registry().names("strategy"):
        pytest.skip("nasplug-tunas is not installed")
    line = error_of(["search", "--strategy", "tunas", "--space", "nb201", "--epochs", "1"], capsys)
    assert "strategy 'tunas'" in line and "needs --latency-target" in line


@pytest.mark.parametrize("toml, fragment", [
    ('arch_betas = ["a", "b"]', "arch_betas must be two numbers in [0, 1), got ['a', 'b']"),
    ("runs_root = 5", "runs_root must be a directory path (a string), got 5"),
    ("seed = 1.5", "seed must be an integer in [0, "),
    ("w_nesterov = 3", "w_nesterov must be true or false, got 3"),
    ('[search]\nspace_options = 5', "options must be a mapping"),
])
def test_toml_values_of_the_wrong_type(toml, fragment, tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(toml + "\n")
    assert fragment in error_of(["search", "--config", str(path), "--quiet"], capsys)


@pytest.mark.parametrize("extra, fragment", [
    (["--drop-path", "5"], "drop_path must be a probability in [0, 1], got 5.0"),
    (["--threads", "100000"], "threads must be an integer in [1, "),
    (["--data-option", "augment=maybe"], "augment='maybe'"),
    (["--device", "cuda:abc"], "device must be"),
])
def test_train_values_out_of_range(extra, fragment, tmp_path, capsys):
    genotype = tmp_path / "g.json"
    genotype.write_text('{"space": "nb201", "space_options": {"C": 4, "N": 1}, "genotype": '
                        '"|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"}')
    assert fragment in error_of(["train", str(genotype), "--epochs", "1", "--quiet", *extra], capsys)


def test_show_of_a_missing_directory_is_an_error(tmp_path, capsys):
    assert f"{tmp_path / 'nope'}: no such run directory" in error_of(["show", str(tmp_path / "nope")], capsys)


def test_a_component_factory_raising_type_or_value_errors_becomes_a_config_error():
    class Picky:
        def __init__(self, rate=1.0):
            self.rate = float(rate)

    module = types.ModuleType("picky_plugin")
    module.nasplug_samplers = hookimpl(lambda: {"picky": Picky})
    registry = Registry(load_plugins([module], entry_points=False))
    with pytest.raises(ConfigError, match=r"sampler 'picky' \(.*\) rejected its options \{'rate': 'abc'\}: could not "
                                          r"convert string to float"):
        registry.get("sampler", "picky", rate="abc")


# -- image folders -----------------------------------------------------------------------------------------
def write_folder(root, classes=("a", "b"), per_class=6, size=8, mode="RGB"):
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.new(mode, (size, size), color=(k * 20) if mode == "L" else (k * 20, 100, 50)).save(root / c / f"{k}.png")
    return root


IMAGE = [*TINY_ARGS[:4], "--data", "imagefolder", *TINY_ARGS[6:], "--epochs", "1", "--quiet",
         "--batch-size", "2", "--data-option", "test_fraction=0.25"]


def test_corrupt_images_stop_the_run_naming_each_file(tmp_path, capsys):
    root = write_folder(tmp_path / "img")
    (root / "a" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    good = (root / "b" / "0.png").read_bytes()
    (root / "b" / "cut.png").write_bytes(good[: len(good) // 2])
    line = error_of(["search", *IMAGE, "--data-root", str(root)], capsys)
    assert "2 image(s) under" in line and str(root / "a" / "bad.jpg") in line and str(root / "b" / "cut.png") in line


@pytest.mark.parametrize("setup, fragment", [
    ("one-class", "has 1 class folder(s) (a); classification needs at least 2"),
    ("empty", "holds no images"),
    ("no-images", "holds no images"),
    ("size=0", "size must be an integer in [4, 1024]"),
    ("size=-4", "size must be an integer in [4, 1024]"),
    ("size=abc", "size must be an integer in [4, 1024]"),
    ("size=1", "size must be an integer in [4, 1024]"),
])
def test_image_folder_problems(setup, fragment, tmp_path, capsys):
    root = tmp_path / "img"
    root.mkdir()
    extra = []
    if setup == "one-class":
        write_folder(root, classes=("a",))
    elif setup == "no-images":
        (root / "a").mkdir()
        (root / "b").mkdir()
        (root / "a" / "notes.txt").write_text("not an image")
    elif setup.startswith("size="):
        write_folder(root)
        extra = ["--data-option", setup]
    assert fragment in error_of(["search", *IMAGE, "--data-root", str(root), *extra], capsys)


def test_grayscale_and_mixed_size_images_run_with_size(tmp_path, capsys):
    root = tmp_path / "img"
    write_folder(root, classes=("a",), size=8, mode="L")
    write_folder(root, classes=("b",), size=11)
    assert "differ in size" in error_of(["search", *IMAGE, "--data-root", str(root)], capsys)
    assert main(["search", *IMAGE, "--data-root", str(root), "--data-option", "size=8",
                 "--run-dir", str(tmp_path / "run")]) == 0


# -- full disks and read-only directories -------------------------------------------------------------------
def test_a_full_disk_names_the_file_and_what_was_written_and_loses_nothing(tmp_path, capsys, monkeypatch):
    import nasplug.rundir

    real_fsync = os.fsync

    def fsync(fd):
        if ".checkpoint.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    run_dir = tmp_path / "run"
    monkeypatch.setattr(nasplug.rundir.os, "fsync", fsync)
    line = error_of([*SEARCH, "--run-dir", str(run_dir)], capsys)
    assert line == f"nasplug: error: could not write the checkpoint {run_dir / 'checkpoint.pt'}: " \
                   "No space left on device; nothing already saved was lost"
    assert not [p for p in os.listdir(run_dir) if p.endswith(".tmp")]
    monkeypatch.setattr(nasplug.rundir.os, "fsync", real_fsync)
    assert main(["resume", str(run_dir), "--quiet"]) == 0  # space freed: the run continues
    assert (run_dir / "genotype.json").exists()


def test_resume_of_a_finished_run_writes_nothing_so_a_read_only_copy_works(tmp_path, capsys, monkeypatch):
    import nasplug.rundir
    import nasplug.runlock

    run_dir = tmp_path / "run"
    result = SearchRun(merged_config({**TINY, "epochs": 1, "runs_root": str(tmp_path)}), run_dir=run_dir).run()
    (run_dir / ".lock").unlink()
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in run_dir.iterdir()}

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    real_open = os.open
    monkeypatch.setattr(nasplug.rundir.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(nasplug.runlock.os, "open", lambda path, flags, *a: read_only() if flags & os.O_CREAT
                        else real_open(path, flags, *a))
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    assert f"genotype: {result.genotype}" in capsys.readouterr().out
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in run_dir.iterdir()} == before
