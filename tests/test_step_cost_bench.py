"""benchmarks/step_cost.py on a tiny configuration: every installed part runs and reports its keys."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_step_cost():
    spec = importlib.util.spec_from_file_location("step_cost", BENCHMARKS / "step_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


step_cost = load_step_cost()


@pytest.mark.parametrize("part", step_cost.part_names())
def test_part_reports_finite_positive_ratios(part):
    bench = step_cost.Bench(repeats=1, device="cpu", batch_size=2, C=4, layers=2, resolution=8, memory=False)
    try:
        module = step_cost.load_part(part)
    except ImportError as exc:  # the part imports a plugin that is not installed here
        pytest.skip(str(exc))
    try:
        installed = importlib.util.find_spec(module.PLUGIN) is not None
    except ImportError:
        installed = False
    if not installed:  # the part uses a plugin's components by name
        pytest.skip(f"part {part!r} measures {module.PLUGIN}, which is not installed")
    results = module.measure(bench)
    assert results
    for key, value in results.items():
        assert math.isfinite(value) and value > 0, (key, value)
