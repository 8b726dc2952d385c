"""The TuNAS controller update: REINFORCE with a moving-average baseline (Sec. 4, 4.2).

One step, in the order of the official code (see IMPLEMENTATION_NOTES):

1. sample an architecture alpha ~ pi (the run's sampler, normally ``categorical``);
2. train the shared weights W on a training batch for alpha (:meth:`Reinforce.weight_step`);
3. score the *same* alpha on a validation batch with the shared weights: Q(alpha)
   (``run.quality``; batch-norm in batch-statistics mode);
4. cost T(alpha) from the latency model (``run.cost``) and reward r = reward(Q, T)
   (Q alone when the run has no reward);
5. baseline b: zero-debiased exponential moving average of r (momentum 0.95),
   updated with r *before* the advantage is taken;
6. loss = -(r - b) * log pi(alpha) over the decisions active in alpha; Adam
   (beta1 = 0, beta2 = 0.999) with the learning rate base * m(progress), m = 0
   for the first 25% of the search and rising to x10 by its end.

The optimizer only touches ``run.arch, run.state, run.space, run.config,
run.sample(), run.quality(), run.cost(), run.reward`` (and ``run.sgd_step`` in
its weight step), so a tabular run without a supernet can drive it too.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from nasplug import distributed
from nasplug.components import ArchOptimizer, Selection
from nasplug.errors import ConfigError, GenotypeError
from nasplug_tunas.categorical import policy_choice
from nasplug_tunas.schedules import check_fraction, rl_lr_multiplier


def active_decisions(space: Any, choices: Mapping[str, int]) -> set[str]:
    """Decisions whose value matters for ``choices``.

    A decision nested under an inactive choice (the expansion of a skipped
    layer) is not part of the sampled architecture, so it does not count in
    log pi(alpha).  Spaces with nesting define ``active_decisions(choices)``.
    """
    method = getattr(space, "active_decisions", None)
    if callable(method):
        return set(method(choices))
    return set(choices)


class Reinforce(ArchOptimizer):
    """REINFORCE on independent categorical logits with a moving-average baseline.

    ``lr`` is the controller's base learning rate (default: the config's
    ``arch_lr``; the official code uses 3e-4 x batch/256 over ~30k steps, a
    short CPU search needs a larger one); ``delay_fraction`` and ``lr_growth``
    shape the schedule of footnote 4 / Appendix B; ``baseline_momentum`` is
    the moving average's momentum.

    ``final`` is what :meth:`final_genotype` returns: ``"most-likely"`` (the
    paper, Sec. 4: the most probable value of every decision) or
    ``"best-sampled"``: the sampled architecture with the highest quality
    among those whose cost was within ``final_tolerance`` (a fraction) of the
    reward's target T0 (any cost when there is no target), falling back to
    the most likely one if none was.  ``best-sampled`` suits an exact quality
    signal (a table: every sample's Q is its true accuracy, as in the
    rejection-sampled random search of Sec. 3.2); with shared weights each
    Q is one noisy validation batch, so the paper's rule stays the default.

    Data-parallel (TuNAS's one sample per core): with ``per-rank`` sampling
    each rank scores its own architecture on its own validation shard; the
    baseline follows the ranks' mean reward (so it stays equal everywhere)
    and the gradients of the per-rank terms ``-(r_k - b) log pi(alpha_k)``
    are averaged before Adam's step, so the update is the mean of the
    per-rank REINFORCE terms.
    """

    FINAL_RULES = ("most-likely", "best-sampled")

    arch_first = False
    # log pi(alpha) needs the one architecture the sampler drew
    needs_single_path_sampler = True
    data_parallel = ("shared", "per-rank")

    def __init__(self, lr: float | None = None, betas=(0.0, 0.999), baseline_momentum: float = 0.95,
                 delay_fraction: float = 0.25, lr_growth: float = 10.0, entropy_weight: float = 0.0,
                 final: str = "most-likely", final_tolerance: float = 0.05):
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0):
            raise ConfigError(f"reinforce lr must be a positive number, got {lr!r}")
        betas = tuple(float(b) for b in betas)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ConfigError(f"reinforce betas must be two numbers in [0, 1), got {betas!r}")
        self.baseline_momentum = check_fraction("baseline_momentum", baseline_momentum)
        self.delay_fraction = check_fraction("delay_fraction", delay_fraction)
        if isinstance(lr_growth, bool) or not isinstance(lr_growth, (int, float)) or not lr_growth > 0:
            raise ConfigError(f"reinforce lr_growth must be a positive number, got {lr_growth!r}")
        if isinstance(entropy_weight, bool) or not isinstance(entropy_weight, (int, float)) or entropy_weight < 0:
            raise ConfigError(f"reinforce entropy_weight must be a number >= 0, got {entropy_weight!r}")
        if final not in self.FINAL_RULES:
            raise ConfigError(f"reinforce final must be one of {', '.join(self.FINAL_RULES)}, got {final!r}")
        if isinstance(final_tolerance, bool) or not isinstance(final_tolerance, (int, float)) \
                or not final_tolerance >= 0:
            raise ConfigError(f"reinforce final_tolerance must be a number >= 0, got {final_tolerance!r}")
        self.final, self.final_tolerance = final, float(final_tolerance)
        #: (quality, choices) of the best sample that met the target so far (``final="best-sampled"``)
        self.best_sample: tuple[float, dict[str, int]] | None = None
        self.lr, self.betas = lr, betas
        self.lr_growth, self.entropy_weight = float(lr_growth), float(entropy_weight)
        self.adam: torch.optim.Adam | None = None
        self.base_lr = 0.0
        # moving-average baseline: raw EMA and number of updates (for zero-debiasing)
        self.reward_ema = 0.0
        self.reward_count = 0
        self._pending: tuple[int, dict[str, Selection]] | None = None

    # -- setup ------------------------------------------------------------------
    def setup(self, run) -> None:
        self.base_lr = float(self.lr if self.lr is not None else run.config.arch_lr)
        # no weight decay: the policy's logits are not regularised in TuNAS
        self.adam = torch.optim.Adam(run.arch.parameters(), lr=0.0, betas=self.betas)

    # -- the step ---------------------------------------------------------------
    def weight_step(self, run, x, y) -> dict[str, float]:
        """Sample alpha ~ pi and train W on it; remember alpha so the arch step scores the same one."""
        selections = run.sample()
        self._pending = (run.state.global_step, selections)
        return run.sgd_step(x, y, {k: s.detach() for k, s in selections.items()})

    def _sampled(self, run) -> dict[str, Selection]:
        if self._pending is not None and self._pending[0] == run.state.global_step:
            selections = self._pending[1]
        else:  # no weight step this step (a tabular run): draw here
            selections = run.sample()
        self._pending = None
        return selections

    def update_baseline(self, reward: float) -> float:
        """Zero-debiased EMA of the rewards seen so far, this step's included."""
        m = self.baseline_momentum
        self.reward_ema = m * self.reward_ema + (1.0 - m) * reward
        self.reward_count += 1
        return self.reward_ema / (1.0 - m ** self.reward_count)

    def learning_rate(self, run) -> float:
        return self.base_lr * rl_lr_multiplier(run.state.progress, self.delay_fraction, self.lr_growth)

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        selections = self._sampled(run)
        choices = {name: policy_choice(sel) for name, sel in selections.items()}
        quality = float(run.quality(choices, valid_batch))
        metrics = {"quality": quality}
        if run.reward is not None:
            cost = float(run.cost(choices))
            reward = float(run.reward(quality, cost))
            metrics["cost"] = cost
        else:
            reward, cost = quality, None
        self._remember(run, choices, quality, cost)
        dist = distributed.of(run)
        baseline = self.update_baseline(dist.mean(reward))  # the ranks' mean reward: one baseline everywhere
        advantage = reward - baseline

        lr = self.learning_rate(run)
        for group in self.adam.param_groups:
            group["lr"] = lr
        self.adam.zero_grad(set_to_none=True)
        active = active_decisions(run.space, choices)
        log_prob = 0.0
        entropy = 0.0
        for name in run.arch.names():
            log_p = torch.log_softmax(run.arch[name], dim=-1)
            if name in active:
                log_p_choice = log_p[choices[name]]
                log_prob = log_prob + log_p_choice
            entropy = entropy - (log_p.exp() * log_p).sum()
        # REINFORCE (Williams 1992): grad of -(r - b) log pi(alpha) is an unbiased
        # estimate of -grad E[r]; the optional entropy bonus is off in TuNAS
        loss = -advantage * log_prob - self.entropy_weight * entropy
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            loss.backward()
        dist.average_gradients(run.arch.parameters())  # every rank joins, with or without a gradient
        self.adam.step()
        metrics.update({"reward": reward, "baseline": baseline, "advantage": advantage, "rl_lr": lr,
                        "policy_entropy": float(entropy.detach()) if isinstance(entropy, torch.Tensor) else 0.0})
        return metrics

    def _remember(self, run, choices: Mapping[str, int], quality: float, cost: float | None) -> None:
        target = getattr(run.reward, "target", None) if run.reward is not None else None
        if target is not None and cost is not None and abs(cost / target - 1.0) > self.final_tolerance:
            return
        if self.best_sample is None or quality > self.best_sample[0]:
            self.best_sample = (quality, {k: int(v) for k, v in choices.items()})

    # -- the answer -------------------------------------------------------------
    def final_genotype(self, run):
        """The most likely value of each decision (Sec. 4), or the best sample that met the target (``final``)."""
        if self.final == "best-sampled":
            # every rank's best (one list in one process); the first of equals, so all ranks agree
            bests = [b for b in distributed.of(run).gather_objects(self.best_sample) if b is not None]
            if bests:
                return run.space.genotype_from_choices(max(bests, key=lambda b: b[0])[1])
        try:
            return run.space.genotype_from_choices(run.arch.argmax())
        except GenotypeError:
            return run.space.derive(run.arch_distribution())

    # -- checkpoints ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"adam": None if self.adam is None else self.adam.state_dict(), "base_lr": self.base_lr,
                "reward_ema": self.reward_ema, "reward_count": self.reward_count,
                "best_sample": None if self.best_sample is None else [self.best_sample[0], self.best_sample[1]]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("adam") is not None and self.adam is not None:
            self.adam.load_state_dict(state["adam"])
        self.base_lr = float(state.get("base_lr", self.base_lr))
        self.reward_ema = float(state.get("reward_ema", 0.0))
        self.reward_count = int(state.get("reward_count", 0))
        best = state.get("best_sample")
        self.best_sample = None if best is None else (float(best[0]), {k: int(v) for k, v in best[1].items()})
