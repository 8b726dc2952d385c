"""The same model space written with NNI 3.0's model-space API and with nasplug.nn: architecture counts and
the cost of one epoch of single-path (random one-shot) supernet training on each, measured in one process.

    pip install nni pytorch-lightning      # NNI 3.0's model-space API imports pytorch_lightning
    python benchmarks/nni_side_by_side.py [--steps 20] [--repeats 3]

The space is the README's ``Net`` (docs/nni-side-by-side.md shows both sources): a width choice of
{8, 16, 24}, 1-3 repeated blocks, each with an op choice {conv, pool}, a kernel choice {3, 5} and a
shortcut input choice.  A step on either side: draw a uniformly random architecture, forward a batch of
digits (8x8) through the weight-sharing supernet, cross-entropy, backward, SGD.  NNI's supernet is what its
``RandomOneShot`` strategy makes of the space (``mutate_model``, then ``resample()`` of every supernet module);
nasplug's is ``model_space(Net).build_supernet`` run with the ``uniform`` sampler's one-hot selections.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from nasplug import nn as snn

# -- the space in nasplug.nn (the README's Net) -----------------------------------------------------------


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        kernel = snn.ValueChoice([3, 5])
        self.op = snn.LayerChoice({"conv": snn.MutableConv2d(width, width, kernel), "pool": nn.MaxPool2d(3, 1, 1)})
        self.skip = snn.InputChoice(2, 1)

    def forward(self, x):
        out = torch.relu(self.op(x))
        return self.skip([out, out + x])


class Net(nn.Module):
    input_shape = (1, 8, 8)

    def __init__(self, num_classes=10):
        super().__init__()
        width = snn.ValueChoice([8, 16, 24], label="width")
        self.stem = snn.MutableConv2d(1, width, 3)
        self.blocks = snn.Repeat(lambda i: Block(width), depth=(1, 3))
        self.head = snn.MutableLinear(width, num_classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


# -- the same space in NNI 3.0 ----------------------------------------------------------------------------

def nni_space():
    import nni
    from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace, MutableConv2d, MutableLinear, Repeat

    class NniBlock(nn.Module):
        def __init__(self, width, index):
            super().__init__()
            kernel = nni.choice(f"kernel{index}", [3, 5])
            self.op = LayerChoice({"conv": MutableConv2d(width, width, kernel, padding=kernel // 2),
                                   "pool": nn.MaxPool2d(3, 1, 1)}, label=f"op{index}")
            self.skip = InputChoice(2, 1, label=f"skip{index}")

        def forward(self, x):
            out = torch.relu(self.op(x))
            return self.skip([out, out + x])

    class NniNet(ModelSpace):
        def __init__(self, num_classes=10):
            super().__init__()
            width = nni.choice("width", [8, 16, 24])
            self.stem = MutableConv2d(1, width, 3, padding=1)
            self.blocks = Repeat(lambda i: NniBlock(width, i), (1, 3), label="blocks")
            self.head = MutableLinear(width, num_classes)

        def forward(self, x):
            return self.head(self.blocks(self.stem(x)).mean((2, 3)))

    return NniNet()


def nni_count(space) -> tuple[int, int]:
    """(product of the choices' sizes, distinct samples enumerated by NNI's own grid search of the space)."""
    from nni.mutable import MutableDict

    mutables = MutableDict(space.simplify())
    product = math.prod(len(list(m.grid())) for m in mutables.values())
    return product, sum(1 for _ in mutables.grid())


def nasplug_count(space) -> tuple[int, int]:
    """(product of the decisions' sizes, distinct genotypes enumerated over every combination of choices)."""
    sizes = [len(d.choices) for d in space.decisions]
    names = space.decision_names()
    seen = {str(space.genotype_from_choices(dict(zip(names, combo))))
            for combo in itertools.product(*(range(n) for n in sizes))}
    return math.prod(sizes), len(seen)


def digits_batches(steps: int, batch: int):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(len(x), (batch,), generator=g)
        yield x[idx], y[idx]


def train_epoch(net, resample, batches) -> float:
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    net.train()
    start = time.perf_counter()
    for x, y in batches:
        args = resample()
        opt.zero_grad()
        F.cross_entropy(net(x, *args), y).backward()
        opt.step()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps in one epoch (batches of 64)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    from nni.nas.oneshot.pytorch.strategy import RandomOneShot
    from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule

    space = snn.model_space(Net)
    nni_model = nni_space()
    ours, theirs = nasplug_count(space), nni_count(nni_model)
    print(f"architectures  nasplug.nn: {ours[0]} (enumerated {ours[1]})   NNI 3.0: {theirs[0]} "
          f"(grid {theirs[1]})   equal: {ours[0] == theirs[0] == ours[1] == theirs[1]}")

    torch.manual_seed(0)
    supernet = space.build_supernet((1, 8, 8), 10)
    generator = torch.Generator().manual_seed(0)
    ours_step = lambda: (space.selections(space.sample(generator)),)  # noqa: E731
    nni_supernet = RandomOneShot().mutate_model(nni_model)
    modules = [m for m in nni_supernet.modules() if isinstance(m, BaseSuperNetModule)]

    def nni_step():
        memo = {}
        for m in modules:
            memo.update(m.resample(memo=memo))
        return ()

    times = {"nasplug.nn": [], "NNI 3.0": []}
    for _ in range(args.repeats):  # interleaved, so a change in machine load hits both alike
        times["nasplug.nn"].append(train_epoch(supernet, ours_step, digits_batches(args.steps, 64)))
        times["NNI 3.0"].append(train_epoch(nni_supernet, nni_step, digits_batches(args.steps, 64)))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:11s} one epoch ({args.steps} random single-path steps, batch 64): median {v * 1e3:.1f} ms "
              f"over {args.repeats} repeats")
    print(f"ratio nasplug.nn / NNI 3.0: {med['nasplug.nn'] / med['NNI 3.0']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
