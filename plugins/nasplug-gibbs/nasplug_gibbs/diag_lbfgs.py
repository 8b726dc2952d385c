"""The diagonal inverse-Hessian estimate of omega's posterior (Eq. 8, 15).

The paper cannot keep an M x M matrix for the network weights; it takes a
diagonal approximation (Becker & LeCun 1988) of the inverse Hessian that
limited-memory BFGS (Liu & Nocedal 1989) estimates.  Here that is literally
the diagonal of the L-BFGS inverse matrix built from the last ``memory``
secant pairs, read off its compact representation (Byrd, Nocedal & Schnabel
1994; Nocedal & Wright Eq. 7.24):

    H = gamma I + W M W^T,  W = [S, gamma Y],
    M = [[R^-T (D + gamma Y^T Y) R^-1, -R^-T], [-R^-1, 0]],
    diag(H)_j = gamma + w_j^T M w_j,

with R the upper triangle of S^T Y, D its diagonal and gamma = s.y / y.y of
the newest pair (N&W Eq. 7.20).  This costs O(n m^2) per step and never
forms H.  The L-BFGS matrix is positive definite when every kept pair has
s.y > 0, so its diagonal is positive; the positive-definite policy keeps
only such pairs (``"skip"``) or damps them (``"damp"``, Powell's rule with
the current diagonal standing in for H), and the diagonal is clamped to
[d_min, d_max].  As for alpha, d_max bounds every coordinate's step at
eta * d_max times its gradient: the SGD step of the paper's DARTS reading.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

POLICIES = ("skip", "damp")


class DiagonalLBFGS:
    """The diagonal of an L-BFGS inverse Hessian over a flat parameter vector."""

    def __init__(self, memory: int = 5, d0: float = 1.0, d_min: float = 1e-2, d_max: float = 1.0,
                 policy: str = "skip", eps: float = 1e-8):
        if policy not in POLICIES:
            raise ValueError(f"positive-definite policy must be one of {POLICIES}, got {policy!r}")
        if not (isinstance(memory, int) and memory >= 1):
            raise ValueError(f"L-BFGS memory must be a positive integer, got {memory!r}")
        if not 0.0 < d_min <= d0 <= d_max:
            raise ValueError(f"need 0 < d_min <= d0 <= d_max, got d_min={d_min!r}, d0={d0!r}, d_max={d_max!r}")
        self.memory, self.d0, self.d_min, self.d_max, self.policy, self.eps = memory, d0, d_min, d_max, policy, eps
        self.S: list[torch.Tensor] = []
        self.Y: list[torch.Tensor] = []
        self.updates = 0
        self.skipped = 0
        self._diag: torch.Tensor | None = None

    def update(self, s: torch.Tensor, y: torch.Tensor) -> bool:
        """Keep one secant pair (dropping the oldest beyond ``memory``); False when skipped."""
        if not (torch.isfinite(s).all() and torch.isfinite(y).all()):
            self.skipped += 1
            return False
        sy = float(s @ y)
        if self.policy == "damp" and self._diag is not None:
            Dy = self._diag * y
            yDy = float(y @ Dy)
            if yDy > 0 and sy < 0.2 * yDy:
                theta = 0.8 * yDy / (yDy - sy)
                s = theta * s + (1.0 - theta) * Dy
                sy = float(s @ y)
        if sy <= self.eps * float(s.norm() * y.norm()) or sy <= 0.0:
            self.skipped += 1
            return False
        self.S.append(s.detach().clone())
        self.Y.append(y.detach().clone())
        if len(self.S) > self.memory:
            self.S.pop(0)
            self.Y.pop(0)
        self.updates += 1
        self._diag = None
        return True

    def diagonal(self, like: torch.Tensor) -> torch.Tensor:
        """diag(H) clamped to [d_min, d_max]; ``d0`` everywhere before the first pair."""
        if self._diag is not None:
            return self._diag
        if not self.S:
            self._diag = torch.full_like(like, self.d0)
            return self._diag
        S = torch.stack(self.S, 1)  # n x m
        Y = torch.stack(self.Y, 1)
        s, y = self.S[-1], self.Y[-1]
        gamma = min(max(float(s @ y) / float(y @ y), self.d_min), self.d_max)
        SY = (S.T @ Y).double()
        R = torch.triu(SY)
        D = torch.diag(torch.diagonal(SY))
        YY = (Y.T @ Y).double()
        m = S.shape[1]
        R_inv = torch.linalg.solve_triangular(R, torch.eye(m, dtype=R.dtype, device=R.device), upper=True)
        M = torch.zeros(2 * m, 2 * m, dtype=R.dtype, device=R.device)
        M[:m, :m] = R_inv.T @ (D + gamma * YY) @ R_inv
        M[:m, m:] = -R_inv.T
        M[m:, :m] = -R_inv
        W = torch.cat([S, gamma * Y], 1)
        diag = gamma + ((W @ M.to(W.dtype)) * W).sum(1)
        if not torch.isfinite(diag).all():
            # nearly parallel pairs make R nearly singular and the compact form overflow: fall back to the
            # scalar estimate gamma I, which the same pairs still define
            diag = torch.full_like(like, gamma)
        self._diag = diag.clamp(self.d_min, self.d_max)
        return self._diag

    def state_dict(self) -> dict[str, Any]:
        return {"S": [s.clone() for s in self.S], "Y": [y.clone() for y in self.Y], "updates": self.updates,
                "skipped": self.skipped, "diag": None if self._diag is None else self._diag.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.S = [s.clone() for s in state["S"]]
        self.Y = [y.clone() for y in state["Y"]]
        self.updates, self.skipped = int(state["updates"]), int(state["skipped"])
        self._diag = None if state.get("diag") is None else state["diag"].clone()
