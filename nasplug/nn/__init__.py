"""Searchable PyTorch modules: write an ordinary ``nn.Module`` with choices inside, and search it.

::

    from nasplug import nn as snn
    class Net(torch.nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            width = snn.ValueChoice([16, 32])
            self.stem = snn.MutableConv2d(3, width, snn.ValueChoice([3, 5]))
            self.op = snn.LayerChoice({"conv": ..., "pool": ...})
            ...
    space = snn.model_space(Net, input_shape=(3, 32, 32))
    Pipeline(space=space, strategy="gdas", data="cifar10").search()
"""

from nasplug.nn.choices import InputChoice, LayerChoice, Repeat
from nasplug.nn.mutable import Mutable
from nasplug.nn.mutable_ops import MutableBatchNorm2d, MutableConv2d, MutableLinear
from nasplug.nn.space import ModelGenotype, ModelSpace, ModelSupernet, model_space
from nasplug.nn.value_choice import ValueChoice

__all__ = ["InputChoice", "LayerChoice", "ModelGenotype", "ModelSpace", "ModelSupernet", "Mutable",
           "MutableBatchNorm2d", "MutableConv2d", "MutableLinear", "Repeat", "ValueChoice", "model_space"]
