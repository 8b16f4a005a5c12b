"""Adversarial losses on raw discriminator scores: vanilla (BCE), lsgan (MSE) and wgan."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gan_loss(scores: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    """Loss that pushes ``scores`` towards "real" (True) or "fake" (False)."""
    if kind == "vanilla":
        target = torch.ones_like(scores) if real else torch.zeros_like(scores)
        return F.binary_cross_entropy_with_logits(scores, target)
    if kind == "lsgan":
        return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))
    if kind == "wgan":
        return -scores.mean() if real else scores.mean()
    raise ValueError(f"unknown gan loss {kind!r}; use vanilla, lsgan or wgan")


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017): mean over samples of (||grad_x critic(x_hat)||_2 - 1)^2.

    x_hat = alpha * real + (1 - alpha) * fake lies on the line between a real and a fake sample,
    alpha ~ U(0, 1) per sample unless given.  ``critic`` maps a batch to one score per sample (or
    a score map, whose sum is differentiated, as StarGAN does).  The graph is kept (create_graph)
    so that the penalty itself can be back-propagated into the critic's weights.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    if alpha is None:
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    grad, = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
