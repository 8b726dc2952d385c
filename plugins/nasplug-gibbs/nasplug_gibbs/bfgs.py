"""The full BFGS inverse-Hessian estimate of alpha's posterior (Eq. 12, 16).

alpha is small (a few hundred numbers), so the paper keeps the whole inverse
matrix H ~ A_alpha^{-1} and updates it with the standard inverse BFGS formula
(Nocedal & Wright 2006, Eq. 6.17) from secant pairs s = alpha' - alpha,
y = g(alpha') - g(alpha).  The Gaussian of Eq. 16 needs H to be symmetric
positive definite; stochastic gradients break BFGS's curvature condition
s.y > 0 often, hence the positive-definite policy:

* ``"skip"``: a pair with s.y <= eps * |s| |y| leaves H unchanged;
* ``"damp"``: Powell's damping written for the inverse update (the roles of
  s and y swapped): s is replaced by theta s + (1 - theta) H y so that
  s.y >= 0.2 y^T H y, which keeps every pair and H positive definite;

and, after each update, H is symmetrised and its eigenvalues are clamped to
[h_min, h_max].  The upper bound turns the learning rate into a step scale:
the step along any direction is at most eta * h_max times the gradient, as
gradient descent with learning rate eta * h_max (the paper's DARTS reading,
A = lr^{-1} I); h0 = h_max starts the chain as exactly that.
"""

from __future__ import annotations

import math

from typing import Any, Mapping

import torch


POLICIES = ("skip", "damp")


class BFGSInverse:
    """A symmetric positive-definite inverse-Hessian estimate, kept with its eigen-decomposition."""

    def __init__(self, dim: int, h0: float = 1.0, h_min: float = 1e-3, h_max: float = 1.0, policy: str = "damp",
                 eps: float = 1e-8, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None):
        if policy not in POLICIES:
            raise ValueError(f"positive-definite policy must be one of {POLICIES}, got {policy!r}")
        if not 0.0 < h_min <= h_max:
            raise ValueError(f"need 0 < h_min <= h_max, got h_min={h_min!r}, h_max={h_max!r}")
        if not h_min <= h0 <= h_max:
            raise ValueError(f"h0 must lie in [h_min, h_max] = [{h_min}, {h_max}], got {h0!r}")
        self.dim, self.h_min, self.h_max, self.policy, self.eps = dim, float(h_min), float(h_max), policy, eps
        self.H = torch.eye(dim, dtype=dtype, device=device) * float(h0)
        self.updates = 0
        self.skipped = 0
        self.damped = 0
        self._eig: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, s: torch.Tensor, y: torch.Tensor) -> bool:
        """Fold one secant pair into H; False when the policy skipped it."""
        s = s.to(self.H)
        y = y.to(self.H)
        sy = float(s @ y)
        Hy = self.H @ y
        yHy = float(y @ Hy)
        if not (torch.isfinite(s).all() and torch.isfinite(y).all()) or yHy <= 0.0:
            self.skipped += 1
            return False
        if self.policy == "skip":
            if sy <= self.eps * float(s.norm() * y.norm()):
                self.skipped += 1
                return False
        elif sy < 0.2 * yHy:  # Powell damping, inverse form
            theta = 0.8 * yHy / (yHy - sy)
            s = theta * s + (1.0 - theta) * Hy
            sy = float(s @ y)
            self.damped += 1
        rho = 1.0 / sy if sy > 0.0 else math.inf
        # H+ = (I - rho s y^T) H (I - rho y s^T) + rho s s^T, expanded (N&W Eq. 6.17)
        H = self.H - rho * (torch.outer(s, Hy) + torch.outer(Hy, s)) + (rho * rho * yHy + rho) * torch.outer(s, s)
        if not torch.isfinite(H).all():  # a pair so small that 1/s.y overflows carries no curvature: skip it
            self.skipped += 1
            return False
        self._set(H)
        self.updates += 1
        return True

    def _set(self, H: torch.Tensor) -> None:
        H = 0.5 * (H + H.T)
        lam, V = torch.linalg.eigh(H)
        lam = lam.clamp(self.h_min, self.h_max)
        self.H = (V * lam) @ V.T
        self.H = 0.5 * (self.H + self.H.T)
        self._eig = (lam, V)

    def eig(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(eigenvalues, eigenvectors) of H, all eigenvalues in [h_min, h_max]."""
        if self._eig is None:
            lam, V = torch.linalg.eigh(self.H)
            self._eig = (lam.clamp(self.h_min, self.h_max), V)
        return self._eig

    def state_dict(self) -> dict[str, Any]:
        lam, V = self.eig()
        # the factors travel too: a recomputed eigh could differ in the last bit and break exact resume
        return {"H": self.H.clone(), "eigenvalues": lam.clone(), "eigenvectors": V.clone(),
                "updates": self.updates, "skipped": self.skipped, "damped": self.damped}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.H = state["H"].to(self.H)
        self.updates, self.skipped, self.damped = int(state["updates"]), int(state["skipped"]), int(state["damped"])
        self._eig = (state["eigenvalues"].to(self.H), state["eigenvectors"].to(self.H))
