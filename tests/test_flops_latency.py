"""The ``flops`` latency model predicts, for a supernet's single path, exactly the MACs of the built child."""

from __future__ import annotations

import pytest
import torch

from nasplug import registry
from nasplug.flops_latency import FlopsLatencyModel
from nasplug.metrics import count_macs

SHAPE = (3, 16, 16)
MOBILE_LAYERS = (1, 2, 1, 1, 2, 1)
#: space -> small options: every space the installed plugins provide is checked, tiny so the test is cheap
SPACES = {
    "nb201": {"C": 4, "N": 1},
    "darts": {"C": 4, "layers": 3, "steps": 2},
    "darts-frc": {"C": 4, "layers": 3, "steps": 2},
    "darts-s1": {"C": 4, "layers": 3, "steps": 2},
    "darts-s2": {"C": 4, "layers": 3},
    "proxylessnas": {"width": 0.25, "layers": MOBILE_LAYERS},
    "proxylessnas-enlarged": {"width": 0.25, "layers": MOBILE_LAYERS},
    "mobilenetv3-like": {"width": 0.5, "layers": MOBILE_LAYERS[:5]},
}


@pytest.mark.parametrize("name", list(SPACES))
def test_flops_prediction_equals_the_built_childs_count(name):
    if name not in registry.names("space"):
        pytest.skip(f"space {name!r} is not installed")
    space = registry.get("space", name, **SPACES[name])
    model = FlopsLatencyModel()
    model.prepare(space, SHAPE, 10)
    generator = torch.Generator().manual_seed(1)
    predictions = []
    for _ in range(4):
        choices = space.sample(generator)
        child = space.build_child(space.genotype_from_choices(choices), SHAPE, 10)
        expected = count_macs(child, torch.zeros((1,) + SHAPE)) / 1e6
        assert expected > 0
        assert model.predict(choices) == pytest.approx(expected, rel=1e-9, abs=1e-12), choices
        predictions.append(model.predict(choices))
    assert len(set(predictions)) > 1  # the cost term tells architectures apart
    base, costs = model.decision_costs()
    assert base > 0 and any(float(c.abs().max()) > 0 for c in costs.values())


def test_count_macs_sees_functional_convolutions_on_weight_slices():
    """TuNAS's shared layers call F.conv2d on a slice of a bigger kernel; the count is the slice's."""
    conv = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False)

    class Sliced(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.conv2d(x[:, :4], conv.weight[:6, :4], padding=1)

    assert count_macs(Sliced(), torch.zeros(2, 8, 5, 5)) == 6 * 25 * 4 * 9
