"""The ``nb201-table`` latency model: a measured device column of a NAS-Bench-201 latency table.

``predict`` is the exact table value of the cell.  Gradient strategies need
an additive form (base + one cost per decision and choice, see
:meth:`nasplug.components.LatencyModel.decision_costs`); measured latency is
not additive, so this returns the least-squares fit of the whole column on
one-hot features of the six edges.  The fit uses reference coding (choice 0,
``none``, costs 0 on every edge) so it is unique.
"""

from __future__ import annotations

import numpy as np
import torch

from nasplug.components import LatencyModel
from nasplug.errors import ConfigError
from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201.loading import load_table
from nasplug_nb201.table import EDGE_NAMES, NUM_OPS, NB201Table


def additive_fit(codes: np.ndarray, values: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Least squares ``values ~ base + sum_e cost[e, op_e]`` with cost[e, 0] = 0.

    Returns (base, costs of shape (edges, ops), R^2 of the fit).
    """
    ok = ~np.isnan(values)
    codes, values = codes[ok], values[ok]
    n, edges = codes.shape
    features = np.zeros((n, 1 + edges * (NUM_OPS - 1)))
    features[:, 0] = 1.0
    for e in range(edges):
        for o in range(1, NUM_OPS):
            features[:, 1 + e * (NUM_OPS - 1) + (o - 1)] = codes[:, e] == o
    coef, *_ = np.linalg.lstsq(features, values, rcond=None)
    costs = np.zeros((edges, NUM_OPS))
    costs[:, 1:] = coef[1:].reshape(edges, NUM_OPS - 1)
    residual = values - features @ coef
    total = ((values - values.mean()) ** 2).sum()
    r2 = 1.0 - float((residual ** 2).sum() / total) if total > 0 else 1.0
    return float(coef[0]), costs, r2


class TableLatencyModel(LatencyModel):
    """Latency of NAS-Bench-201 cells on one device, read from a table (ms).

    Options: ``path`` (directory with latency_ms.csv and accuracy.csv, or a
    latency CSV with an ArchitectureString column), ``device`` (a column:
    pixel3, raspi4, gold_6226, titanxp_1 in the shared table, or any column
    of a user's table in the same form).
    """

    unit = "ms"

    def __init__(self, path: str | None = None, device: str = "pixel3", latency_path: str | None = None,
                 table: NB201Table | None = None):
        if table is None:
            if path is None:
                raise ConfigError("latency model 'nb201-table' needs path=DIR (a folder with latency_ms.csv and "
                                  "accuracy.csv)")
            table = load_table(path, latency_path)
        if device not in table.latency:
            raise ConfigError(f"latency model 'nb201-table': no device column {device!r}; the table has "
                              f"{', '.join(table.devices) or 'no latency columns'}")
        self.table, self.device = table, device
        self.column = table.latency[device]
        self._additive: tuple[float, dict[str, torch.Tensor]] | None = None
        self.fit_r2: float | None = None

    def prepare(self, space, input_shape, num_classes) -> None:
        if not isinstance(space, NB201Space):
            raise ConfigError(f"latency model 'nb201-table' measures NAS-Bench-201 cells; space {space.name!r} "
                              f"is not one (use the 'nb201' space)")

    def predict(self, choices) -> float:
        value = float(self.column[self.table.index(choices)])
        if np.isnan(value):
            raise ConfigError(f"the table has no {self.device!r} latency for {self.table.string(self.table.index(choices))!r}")
        return value

    def decision_costs(self) -> tuple[float, dict[str, torch.Tensor]]:
        if self._additive is None:
            base, costs, self.fit_r2 = additive_fit(self.table.codes, self.column)
            self._additive = (base, {name: torch.tensor(costs[e], dtype=torch.float32)
                                     for e, name in enumerate(EDGE_NAMES)})
        base, costs = self._additive
        return base, {k: v.clone() for k, v in costs.items()}
