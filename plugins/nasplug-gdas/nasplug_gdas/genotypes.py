"""The cells published in the GDAS paper (Fig. 4), as genotype records ``nasplug train`` accepts.

Fig. 4 is a drawing; the (op, input) lists are the authors' ``GDAS_V1``
(normal + reduction searched jointly, Tab. 1 "GDAS") and ``GDAS_F1``
(normal cell searched with the fixed reduction cell, Tab. 1 "GDAS (FRC)")
from their released code.  The records use the paper's evaluation network,
C=36 and 20 cells (N=6), which is also the DARTS space's child default.
"""

from __future__ import annotations

from typing import Any

# per intermediate node (2..5): the two (op, input) pairs it keeps
GDAS_NORMAL = [
    [["skip_connect", 0], ["skip_connect", 1]],
    [["skip_connect", 0], ["sep_conv_5x5", 2]],
    [["sep_conv_3x3", 3], ["skip_connect", 0]],
    [["sep_conv_5x5", 4], ["sep_conv_3x3", 3]],
]
GDAS_REDUCE = [
    [["sep_conv_5x5", 0], ["sep_conv_3x3", 1]],
    [["sep_conv_5x5", 2], ["sep_conv_5x5", 1]],
    [["dil_conv_5x5", 2], ["sep_conv_3x3", 1]],
    [["sep_conv_5x5", 0], ["sep_conv_5x5", 1]],
]
GDAS_FRC_NORMAL = [
    [["skip_connect", 0], ["skip_connect", 1]],
    [["skip_connect", 0], ["sep_conv_3x3", 2]],
    [["skip_connect", 0], ["sep_conv_3x3", 2]],
    [["skip_connect", 0], ["sep_conv_3x3", 2]],
]

PAPER_CHILD = {"C": 36, "layers": 20}


def gdas() -> dict[str, Any]:
    """GDAS normal + reduction cell (Fig. 4 top and middle-left; CIFAR-10 error 2.93% with cutout)."""
    return {"space": "darts", "space_options": dict(PAPER_CHILD),
            "genotype": {"normal": GDAS_NORMAL, "reduce": GDAS_REDUCE}}


def gdas_frc() -> dict[str, Any]:
    """GDAS (FRC) normal cell with the fixed reduction cell (Fig. 4 middle-right + Fig. 3; 2.82%)."""
    return {"space": "darts-frc", "space_options": dict(PAPER_CHILD),
            "genotype": {"normal": GDAS_FRC_NORMAL, "reduce": None}}
