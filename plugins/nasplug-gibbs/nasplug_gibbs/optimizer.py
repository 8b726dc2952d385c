"""GibbsNAS's search step (Algorithm 1, lines 4-6) as a nasplug ArchOptimizer.

Every step, on the DARTS mixture supernet:

1. omega_t ~ N(omega_{t-1} - eta_w D g_w, T_w eta_w (2 - eta_w) D) on a training
   batch (Eq. 7, 8, 15), D the diagonal L-BFGS inverse Hessian;
   ``omega="sgd"`` keeps the run's SGD instead (GibbsNAS 1st order);
2. alpha_{t+1} ~ N(alpha_t - eta_a H g_a, T_a eta_a (2 - eta_a) H) on a
   validation batch (Eq. 11, 12, 16), H the full BFGS inverse Hessian;
3. the quasi-Newton estimates take a new secant pair (line 6) every
   ``curvature_every`` steps, from averaged iterates (:mod:`~nasplug_gibbs.secant`).

``"mean"`` for either block drops the noise (the Table 2 "-mean" rows).  The
practical guards of the paper's experiments (its supplement is not public;
see the README for why each form was chosen): a warm-up fraction of the
search with no noise while the curvature estimates fill, sampling clipping
in marginal standard deviations, the positive-definite policies and
eigenvalue bounds of :mod:`~nasplug_gibbs.bfgs` and
:mod:`~nasplug_gibbs.diag_lbfgs`, and the weights' cosine learning-rate decay
applied to both step scales.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from nasplug.components import ArchOptimizer
from nasplug.errors import ConfigError, check_choice
from nasplug import accuracy

from nasplug_gibbs.bfgs import POLICIES, BFGSInverse
from nasplug_gibbs.diag_lbfgs import DiagonalLBFGS
from nasplug_gibbs.gaussian_step import diagonal_step, full_step
from nasplug_gibbs.secant import IterateAverager, averaged_pair, evaluated_at

OMEGA_MODES = ("sample", "mean", "sgd")
ALPHA_MODES = ("sample", "mean")
SECANTS = ("averaged", "consecutive", "same_batch")
OMEGA_SECANTS = ("averaged", "consecutive")


def _check_number(name: str, value: Any, low: float, high: float = math.inf, none_ok: bool = False,
                  closed_low: bool = False) -> None:
    if value is None and none_ok:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= low if closed_low else value > low) and value < high
    if not ok:
        bound = f"{'[' if closed_low else '('}{low}, {high})"
        raise ConfigError(f"gibbs option {name}={value!r} must be a number in {bound}"
                          + (" or None" if none_ok else ""))


def flat_gradient(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """d loss / d params as one flat vector (zeros for parameters the loss does not reach), the layout of the
    quasi-Newton estimates."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])


class GibbsArchOptimizer(ArchOptimizer):
    """Both GibbsNAS orders and their mean-only ablations, by ``omega`` and ``alpha`` mode."""

    arch_first = False  # Algorithm 1: omega_t given alpha_t, then alpha_{t+1} given omega_t
    needs_differentiable_sampler = True  # Eq. 16's alpha gradient flows through the selections
    data_parallel = ()
    data_parallel_refusal = (
        "its omega and alpha moves are Gaussian samples around quasi-Newton (BFGS / L-BFGS) steps whose "
        "curvature pairs and noise are built from each process's own gradients; a data-parallel version must "
        "all-reduce every gradient it takes and share the noise, which is not implemented")

    def __init__(self, omega: str = "sample", alpha: str = "sample", lr: float | None = None,
                 decay: float | None = None, temperature: float = 1.0,
                 omega_temperature: float = 0.01, clip: float | None = 2.0, warmup: float = 0.2,
                 policy: str = "damp", omega_policy: str = "skip", h_min: float = 1e-3, h_max: float = 1.0,
                 d_min: float = 1e-2, d_max: float = 1.0, memory: int = 5, secant: str = "averaged",
                 omega_secant: str = "averaged", curvature_every: int = 10, lr_decay: bool = True):
        check_choice("gibbs", "omega", omega, OMEGA_MODES)
        check_choice("gibbs", "alpha", alpha, ALPHA_MODES)
        check_choice("gibbs", "policy", policy, POLICIES)
        check_choice("gibbs", "omega_policy", omega_policy, POLICIES)
        check_choice("gibbs", "secant", secant, SECANTS)
        check_choice("gibbs", "omega_secant", omega_secant, OMEGA_SECANTS)
        if not (isinstance(curvature_every, int) and not isinstance(curvature_every, bool) and curvature_every >= 1):
            raise ConfigError(f"gibbs option curvature_every={curvature_every!r} must be a positive integer "
                              f"(steps per window of averaged iterates)")
        _check_number("lr", lr, 0.0, 2.0, none_ok=True)
        _check_number("decay", decay, 0.0, none_ok=True, closed_low=True)
        _check_number("temperature", temperature, 0.0, closed_low=True)
        _check_number("omega_temperature", omega_temperature, 0.0, closed_low=True)
        _check_number("clip", clip, 0.0, none_ok=True)
        _check_number("warmup", warmup, 0.0, 1.0, closed_low=True)
        _check_number("h_min", h_min, 0.0)
        _check_number("h_max", h_max, 0.0)
        _check_number("d_min", d_min, 0.0)
        _check_number("d_max", d_max, 0.0)
        if h_min > h_max or d_min > d_max:
            raise ConfigError(f"gibbs options need h_min <= h_max and d_min <= d_max, got h_min={h_min}, "
                              f"h_max={h_max}, d_min={d_min}, d_max={d_max}")
        if not (isinstance(memory, int) and not isinstance(memory, bool) and memory >= 1):
            raise ConfigError(f"gibbs option memory={memory!r} must be a positive integer (secant pairs kept)")
        self.omega, self.alpha = omega, alpha
        self.lr, self.decay = lr, decay
        self.temperature, self.omega_temperature = temperature, omega_temperature
        self.clip, self.warmup = clip, float(warmup)
        self.policy, self.omega_policy, self.secant = policy, omega_policy, secant
        self.omega_secant, self.curvature_every = omega_secant, curvature_every
        self._alpha_windows = IterateAverager(curvature_every)
        self._omega_windows = IterateAverager(curvature_every)
        self.h_min, self.h_max, self.d_min, self.d_max, self.memory = h_min, h_max, d_min, d_max, memory
        self.lr_decay = bool(lr_decay)
        self.bfgs: BFGSInverse | None = None
        self.lbfgs: DiagonalLBFGS | None = None
        self._alpha_prev: tuple[torch.Tensor, torch.Tensor] | None = None
        self._omega_prev: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- setup --------------------------------------------------------------
    def setup(self, run) -> None:
        # the sampler was checked against needs_differentiable_sampler when the run was composed
        cfg = run.config
        self.alpha_lr = self.lr if self.lr is not None else cfg.arch_lr
        self.alpha_decay = self.decay if self.decay is not None else cfg.arch_weight_decay
        _check_number("lr (arch_lr)", self.alpha_lr, 0.0, 2.0)
        if self.omega != "sgd":
            _check_number("w_lr (the omega step scale)", cfg.w_lr, 0.0, 2.0)
        # temperature 1 <=> T = 1/N: the posterior of Eq. 3 with the likelihood of the whole N-example
        # split each block is fitted on (the loss is a batch mean); below 1 is a colder posterior
        self.alpha_T = self.temperature / len(run.valid_set)
        self.omega_T = self.omega_temperature / len(run.train_set)
        dim = sum(p.numel() for p in run.arch.parameters())
        self.bfgs = BFGSInverse(dim, h0=self.h_max, h_min=self.h_min, h_max=self.h_max, policy=self.policy,
                                device=run.device)
        if self.omega != "sgd":
            self.lbfgs = DiagonalLBFGS(self.memory, d0=self.d_max, d_min=self.d_min, d_max=self.d_max,
                                       policy=self.omega_policy)

    # -- schedules ----------------------------------------------------------
    def _decay_factor(self, run) -> float:
        """The weights' cosine schedule as a fraction of its start (the paper's lr decay for both blocks)."""
        if not self.lr_decay:
            return 1.0
        return run.w_optimizer.param_groups[0]["lr"] / run.config.w_lr

    def _sampling(self, run, mode: str) -> bool:
        """Noise only after the warm-up fraction of the search (curvature pairs gather first)."""
        return mode == "sample" and run.state.progress >= self.warmup

    # -- omega (Eq. 7, 8, 15) ------------------------------------------------
    def weight_step(self, run, x, y) -> dict[str, float]:
        if self.omega == "sgd":
            return super().weight_step(run, x, y)
        cfg = run.config
        params = [p for p in run.supernet.parameters() if p.requires_grad]
        run.supernet.train()
        selections = {k: s.detach() for k, s in run.sample().items()}
        loss, logits, raw = self._weight_gradient(run, params, x, y, selections)
        g = raw
        if cfg.grad_clip > 0:
            norm = float(g.norm())
            if norm > cfg.grad_clip:
                g = g * (cfg.grad_clip / (norm + 1e-6))
        with torch.no_grad():
            w = parameters_to_vector(params)
            g = g + cfg.w_weight_decay * w  # b_omega's prior term sigma_omega^-2 omega (Eq. 7)
            if self.omega_secant == "consecutive":
                if self._omega_prev is not None:
                    w_prev, g_prev = self._omega_prev
                    self.lbfgs.update(w - w_prev, g - g_prev)
                self._omega_prev = (w.clone(), g.clone())
            else:
                def gradient_at(point):
                    with torch.enable_grad(), evaluated_at(params, point, run.supernet):
                        return self._weight_gradient(run, params, x, y, selections)[2]

                pair = averaged_pair(self._omega_windows, w, raw, gradient_at, cfg.w_weight_decay)
                if pair is not None:
                    self.lbfgs.update(*pair)
            D = self.lbfgs.diagonal(w)
            eta = run.w_optimizer.param_groups[0]["lr"]  # the run's cosine schedule is the decay
            new = diagonal_step(w, g, D, eta, self.omega_T, sample=self._sampling(run, self.omega),
                                clip=self.clip, generator=run.state.generator)
            vector_to_parameters(new, params)
        return {"train_loss": loss.item(), "train_acc": accuracy(logits.detach(), y),
                "omega_step": float((new - w).norm())}

    @staticmethod
    def _weight_gradient(run, params, x, y, selections) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training cross-entropy, logits and the flat (unclipped) gradient over ``params``."""
        logits = run.forward(x, selections)
        loss = F.cross_entropy(logits, y)
        return loss, logits, flat_gradient(loss, params)

    # -- alpha (Eq. 11, 12, 16) ----------------------------------------------
    def _alpha_gradient(self, run, x, y) -> tuple[torch.Tensor, float, float]:
        params = list(run.arch.parameters())
        with run.frozen_weights():
            selections = run.sample()
            logits = run.forward(x, selections)
            loss = run.arch_objective(logits, y, selections)
            g = flat_gradient(loss, params)
        return g.detach().double(), loss.item(), accuracy(logits.detach(), y)

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        x, y = valid_batch
        run.supernet.train()
        params = list(run.arch.parameters())
        a = parameters_to_vector(params).detach().double()
        grad, loss, acc = self._alpha_gradient(run, x, y)
        g = grad + self.alpha_decay * a  # b_alpha with the importance-decay prior (Eq. 11)
        if self.secant == "consecutive" and self._alpha_prev is not None:
            a_prev, g_prev = self._alpha_prev
            self.bfgs.update(a - a_prev, g - g_prev)
        self._alpha_prev = (a.clone(), g.clone())
        if self.secant == "averaged":
            def gradient_at(point):
                with evaluated_at(params, point, run.supernet):
                    return self._alpha_gradient(run, x, y)[0]

            pair = averaged_pair(self._alpha_windows, a, grad, gradient_at, self.alpha_decay)
            if pair is not None:
                self.bfgs.update(*pair)
        lam, V = self.bfgs.eig()
        eta = self.alpha_lr * self._decay_factor(run)
        new = full_step(a, g, lam, V, eta, self.alpha_T, sample=self._sampling(run, self.alpha), clip=self.clip,
                        generator=run.state.generator)
        with torch.no_grad():
            vector_to_parameters(new.to(params[0].dtype), params)
        if self.secant == "same_batch":
            # the pair on the same batch and weights: curvature, not batch-to-batch noise
            new_grad, _, _ = self._alpha_gradient(run, x, y)
            a_new = parameters_to_vector(params).detach().double()
            self.bfgs.update(a_new - a, new_grad + self.alpha_decay * a_new - g)
        return {"arch_loss": loss, "arch_acc": acc, "alpha_step": float((new - a).norm())}

    # -- checkpoints ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alpha_prev": self._alpha_prev, "omega_prev": self._omega_prev,
                               "alpha_windows": self._alpha_windows.state_dict(),
                               "omega_windows": self._omega_windows.state_dict()}
        if self.bfgs is not None:
            out["bfgs"] = self.bfgs.state_dict()
        if self.lbfgs is not None:
            out["lbfgs"] = self.lbfgs.state_dict()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._alpha_prev = state.get("alpha_prev")
        self._omega_prev = state.get("omega_prev")
        if "alpha_windows" in state:
            self._alpha_windows.load_state_dict(state["alpha_windows"])
            self._omega_windows.load_state_dict(state["omega_windows"])
        if self.bfgs is not None and "bfgs" in state:
            self.bfgs.load_state_dict(state["bfgs"])
        if self.lbfgs is not None and "lbfgs" in state:
            self.lbfgs.load_state_dict(state["lbfgs"])
