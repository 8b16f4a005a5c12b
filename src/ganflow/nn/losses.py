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
