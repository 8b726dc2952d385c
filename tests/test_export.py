"""Export round trips: every format gives the PyTorch network's outputs, and ``pt`` runs without nasplug."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from nasplug import registry as registry_module
from nasplug.cli import main
from nasplug.errors import ConfigError, RunDirError
from nasplug.export import FORMATS, export_model
from nasplug.testing.spaces import build_space

SHAPE = (1, 8, 8)
SPACES = ("nb201", "darts", "proxylessnas")


class PlainNet(nn.Module):
    """A user's own network: no nasplug type inside, a functional op and a shape-dependent branch."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                                      nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False))
        self.head = nn.Linear(6, 10)

    def forward(self, x):
        x = self.features(x)
        if x.shape[-1] > 1:  # decided on the example's shape when traced
            x = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return self.head(torch.flatten(x, 1))


#: a user model's choices, every kind taken away from its default: a LayerChoice candidate, the InputChoice's
#: second input, a ValueChoice width and kernel, and a Repeat depth of 2
USER_CHOICES = {"width": "8", "op": "conv3", "blocks": "2", "blocks/0/conv/kernel_size": "3",
                "blocks/1/conv/kernel_size": "1", "blocks/0/merge": "1", "blocks/1/merge": "0"}


def child_of(space_name: str) -> nn.Module:
    if space_name == "plain":
        torch.manual_seed(0)
        return PlainNet().eval()
    if space_name == "model":
        from nasplug.nn import model_space

        space = model_space("nasplug.testing.model:TinyChoiceNet")
        genotype = space.genotype_from_json({"model": space.model_label, "choices": USER_CHOICES})
    else:
        space = build_space(space_name, registry_module.default_registry())
        genotype = space.genotype_from_choices(space.sample(torch.Generator().manual_seed(3)))
    torch.manual_seed(0)
    # what retraining adds and export must leave out: DARTS's auxiliary head and drop-path
    child = space.build_child(genotype, SHAPE, 10, **({"auxiliary": True} if space_name == "darts" else {}))
    if hasattr(child, "drop_path_prob"):
        child.drop_path_prob = 0.2
    # non-trivial BatchNorm statistics, so the check sees whether running stats travel
    child.train()
    with torch.no_grad():
        child(torch.randn(8, *SHAPE))
    return child.eval()


def batch(n: int = 3) -> torch.Tensor:
    """A fixed batch of another size than the one traced (2): the batch axis must stay free."""
    return torch.randn((n,) + SHAPE, generator=torch.Generator().manual_seed(7))


def load_exported(format: str, out: Path):
    if format == "pt":
        from nasplug.export.python_source import load_source

        model = load_source((out / "model.py").read_text()).Model()
        model.load_state_dict(torch.load(out / "weights.pt", weights_only=True))
        return lambda x: model(x).detach()
    if format == "torchscript":
        model = torch.jit.load(str(out / "model.ts.pt"))
        return lambda x: model(x).detach()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("space_name", SPACES + ("plain", "model"))
def test_export_round_trip_gives_the_same_outputs(tmp_path, space_name, format):
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    child = child_of(space_name)
    result = export_model(child, tmp_path, format, input_shape=SHAPE)
    assert result.note is None  # written in the format asked for, no fallback
    assert result.max_difference <= 1e-5
    x = batch()
    with torch.no_grad():
        expected = child(x)
    got = load_exported(format, tmp_path)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert json.loads((tmp_path / "export.json").read_text())[format]["max_abs_difference"] <= 1e-5


ISOLATED = textwrap.dedent("""
    import importlib.abc, sys

    class NoNasplug(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0].startswith("nasplug"):
                raise ImportError(f"{name} is blocked: the export must run without nasplug")
            return None

    sys.meta_path.insert(0, NoNasplug())
    for name in list(sys.modules):
        if name.startswith("nasplug"):
            del sys.modules[name]
    try:
        import nasplug  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("nasplug is importable in the isolated interpreter")
    import torch
    torch.set_num_threads(1)
    x = torch.load(sys.argv[1])
    outputs = {}
    for folder in sys.argv[2:]:
        sys.path.insert(0, folder)
        sys.modules.pop("model", None)
        import model
        net = model.Model()
        net.load_state_dict(torch.load(folder + "/weights.pt"))
        outputs[folder] = net(x).detach()
        sys.path.remove(folder)
    torch.save(outputs, sys.argv[1] + ".out")
    print("no nasplug module loaded:", not any(m.startswith("nasplug") for m in sys.modules))
""")


def test_pt_export_loads_and_runs_where_nasplug_cannot_be_imported(tmp_path):
    x = batch()
    folders, expected = [], {}
    for name in SPACES + ("plain",):
        out = tmp_path / name
        child = child_of(name)
        export_model(child, out, "pt", input_shape=SHAPE)
        assert "nasplug" not in (out / "model.py").read_text().split('"""', 2)[2]  # the code, past the docstring
        folders.append(str(out))
        with torch.no_grad():
            expected[str(out)] = child(x)
    torch.save(x, tmp_path / "batch.pt")
    script = tmp_path / "load.py"
    script.write_text(ISOLATED)
    # -I: no PYTHONPATH, no user site, not the current directory; the finder blocks the editable install
    done = subprocess.run([sys.executable, "-I", str(script), str(tmp_path / "batch.pt"), *folders],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no nasplug module loaded: True" in done.stdout
    got = torch.load(tmp_path / "batch.pt.out")
    for folder in folders:
        torch.testing.assert_close(got[folder], expected[folder], atol=1e-5, rtol=0)


class ValueBranch(nn.Module):
    """Control flow on tensor values: no single graph describes it."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.linear(x)
        return -self.linear(x)


def test_pt_falls_back_to_torchscript_and_says_why(tmp_path):
    model = ValueBranch().eval()
    x = torch.ones(2, 4)
    result = export_model(model, tmp_path, "pt", example_input=x)
    assert result.note is not None and "cannot trace" in result.note and "torch.jit.script" in result.note
    assert [p.name for p in result.files] == ["model.ts.pt"]
    loaded = torch.jit.load(str(tmp_path / "model.ts.pt"))
    for x in (torch.ones(2, 4), -torch.ones(2, 4)):  # both branches kept, not the example's only
        torch.testing.assert_close(loaded(x), model(x))


def test_bad_format_is_refused_naming_the_allowed_ones(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"unknown export format 'tflite'; allowed: pt, torchscript, onnx"):
        export_model(PlainNet(), tmp_path, "tflite", input_shape=SHAPE)
    assert main(["export", str(tmp_path), "--format", "tflite"]) == 2
    assert "allowed: pt, torchscript, onnx" in capsys.readouterr().err


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "nasplug\[onnx\]"'):
        export_model(PlainNet(), tmp_path, "onnx", input_shape=SHAPE)
    assert not (tmp_path / "model.onnx").exists()


def test_a_run_without_a_genotype_is_refused_in_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"space": "nb201", "data": "digits"}))
    with pytest.raises(RunDirError, match="has no genotype yet"):
        export_model(run, format="pt")
    assert main(["export", str(run), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no genotype yet" in err and f"nasplug resume {run}" in err


def test_a_genotype_file_alone_needs_the_input_shape(tmp_path):
    space = build_space("nb201", registry_module.default_registry())
    genotype = space.genotype_from_choices(space.sample(torch.Generator().manual_seed(0)))
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps({"space": "nb201", "space_options": space.options(), "genotype": genotype.to_json()}))
    with pytest.raises(ConfigError, match="--input-shape C,H,W --num-classes N"):
        export_model(path, tmp_path / "out", "pt")
    result = export_model(path, tmp_path / "out", "pt", input_shape=SHAPE, num_classes=10)
    assert "freshly initialised" in result.weights
    assert (tmp_path / "out" / "model.py").exists()


@pytest.mark.slow
def test_a_retraining_run_exports_its_retrained_weights(tmp_path, capsys):
    from nasplug.config import TrainConfig
    from nasplug.train import train

    space = build_space("nb201", registry_module.default_registry())
    genotype = space.genotype_from_choices(space.sample(torch.Generator().manual_seed(0)))
    record = {"space": "nb201", "space_options": space.options(), "genotype": genotype.to_json()}
    run = tmp_path / "train"
    train(record, TrainConfig(epochs=1, batch_size=64, threads=1), run_dir=run)
    assert main(["export", str(run), "--format", "pt"]) == 0
    printed = capsys.readouterr().out
    assert "weights: retrained" in printed and "1 of 1 epochs" in printed
    trained = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    exported = torch.load(run / "export" / "weights.pt", weights_only=True)
    assert exported and all(torch.equal(value, trained[key]) for key, value in exported.items())
