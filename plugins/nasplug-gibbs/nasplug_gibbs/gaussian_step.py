"""One draw from the Gaussian (Laplace) conditional of Eq. 15 / Eq. 16.

The paper writes the conditional of a block x (omega or alpha) as
N(x_t - A^{-1} b, A^{-1}), with A^{-1} a quasi-Newton inverse Hessian.  Read
with b as the gradient of the *negative* log posterior, g = grad L + decay * x
(Eq. 7, 11; the paper's b is that gradient's negative, and its mean
``x_t - A^{-1} b`` only goes downhill with this sign), the mean is a Newton
step and the draw is exact for a quadratic loss.

Two knobs make the draw practical, and both leave the target alone:

* ``eta`` (the learning rate) damps the step: mean = x - eta * P g.  Damping
  alone would shrink the spread of the chain, so the noise covariance is
  ``temperature * eta * (2 - eta) * P``.  On a quadratic with P = A^{-1} the
  chain x' = (1 - eta)(x - mu) + mu + noise then keeps N(mu, T A^{-1}) as its
  stationary law for every eta in (0, 2): Sigma = (1-eta)^2 Sigma + c P gives
  c = T eta (2 - eta).  At eta = 1, T = 1 this is Eq. 15/16 exactly (one
  independent draw per step); small eta tends to preconditioned Langevin
  dynamics (noise 2 eta T P).
* ``temperature`` T scales the posterior: with the mean cross-entropy as the
  loss, T = 1/N is the posterior of Eq. 3 with the whole N-example split's
  likelihood; T = 1 is Eq. 16 taken literally with the mean loss.

``clip`` is the sampling clipping of the paper's experiments: every
coordinate of the sampled deviation is bounded by ``clip`` of its own
marginal standard deviations (a truncated Gaussian; None turns it off).
``sample=False`` returns the mean: the "-mean" ablations of Table 2 and, at
eta = 1 with the exact inverse Hessian, a Newton step.
"""

from __future__ import annotations

import torch


def noise_variance_factor(eta: float) -> float:
    """eta * (2 - eta): the noise scale that keeps the Laplace posterior stationary under damping."""
    if not 0.0 < eta < 2.0:
        raise ValueError(f"step scale eta must lie in (0, 2) for a stable Gibbs chain, got {eta!r}")
    return eta * (2.0 - eta)


def _gaussian(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    # draw on the CPU generator the kernel checkpoints, then move: identical on any device
    return torch.randn(shape, generator=generator, dtype=like.dtype).to(like.device)


def full_step(x: torch.Tensor, g: torch.Tensor, eigenvalues: torch.Tensor, eigenvectors: torch.Tensor,
              eta: float, temperature: float, sample: bool = True, clip: float | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw x' ~ N(x - eta P g, T eta (2 - eta) P) with P = V diag(lambda) V^T (Eq. 16).

    ``eigenvalues``/``eigenvectors`` are P's spectral factors, which
    :class:`~nasplug_gibbs.bfgs.BFGSInverse` keeps (they also give the
    matrix square root the draw needs).
    """
    V, lam = eigenvectors, eigenvalues
    mean = x - eta * (V @ (lam * (V.T @ g)))
    if not sample:
        return mean
    scale = (temperature * noise_variance_factor(eta)) ** 0.5
    z = _gaussian(lam.shape, generator, x)
    noise = scale * (V @ (lam.sqrt() * z))
    if clip is not None:
        std = scale * ((V * V) @ lam).sqrt()  # marginal std of each coordinate
        noise = torch.maximum(torch.minimum(noise, clip * std), -clip * std)
    return mean + noise


def diagonal_step(x: torch.Tensor, g: torch.Tensor, diagonal: torch.Tensor, eta: float, temperature: float,
                  sample: bool = True, clip: float | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw x' ~ N(x - eta D g, T eta (2 - eta) D) with a diagonal inverse Hessian D (Eq. 15)."""
    mean = x - eta * diagonal * g
    if not sample:
        return mean
    z = _gaussian(x.shape, generator, x)
    if clip is not None:
        z = z.clamp(-clip, clip)
    return mean + (temperature * noise_variance_factor(eta)) ** 0.5 * diagonal.sqrt() * z
