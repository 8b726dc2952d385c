"""The user-model example (examples/own_model): its space has the four kinds of choice, and children are plain."""

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "own_model"))
from cifar_resnet import CifarResNet  # noqa: E402

from nasplug.nn import model_space  # noqa: E402


@pytest.fixture(scope="module")
def space():
    return model_space(CifarResNet)


def test_the_example_space_has_op_kernel_width_and_depth_choices(space):
    names = space.decision_names()
    assert {"width1", "width2", "depth1", "depth2"} <= set(names)
    assert space.decision("stage1/0/op").choices == ("conv", "sepconv")
    assert space.decision("stage2/2/op/conv/0/0/kernel_size").choices == ("3", "5")
    # 3 widths x 3 depths per stage, and per block: 2 ops x 2 kernels x 2 shortcuts, 3 blocks per stage
    assert math.prod(len(d.choices) for d in space.decisions) == (3 * 3 * 8 ** 3) ** 2


def test_an_example_child_is_plain_torch_and_equals_its_supernet_path(space):
    torch.manual_seed(0)
    supernet = space.build_supernet((3, 32, 32), 10).eval()
    choices = space.sample(torch.Generator().manual_seed(5))
    child = space.build_child(space.genotype_from_choices(choices), (3, 32, 32), 10, supernet=supernet).eval()
    assert all(type(m).__module__.startswith(("torch", "cifar_resnet", "nasplug.nn.plain")) for m in child.modules())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(child(x), supernet(x, space.selections(choices)), atol=1e-5)
    widths = {m.out_channels for m in child.stem.modules() if isinstance(m, nn.Conv2d)}
    assert widths == {int(space.genotype_from_choices(choices).to_json()["choices"]["width1"])}
