"""Adversarial losses on raw discriminator scores: vanilla (BCE), lsgan (MSE), wgan and hinge.

``gan_loss`` is D's side (and, for the losses whose G side is "call the fakes real", G's too);
``generator_loss`` is G's side, which differs for hinge: D keeps a margin of 1 around its
decision, G simply raises D's score of its fakes (Lim & Ye 2017; Miyato et al. 2018).
"""
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
    if kind == "hinge":  # D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]
        return F.relu(1 - scores).mean() if real else F.relu(1 + scores).mean()
    raise ValueError(f"unknown gan loss {kind!r}; use vanilla, lsgan, wgan or hinge")


def generator_loss(scores: torch.Tensor, kind: str) -> torch.Tensor:
    """G's adversarial loss on D's scores of its fakes.

    Hinge's G side is -E[D(G(z))]: a margin on G's side would stop its gradient as soon as D
    scores a fake above 1, which is exactly when D has not yet caught up.  For the other losses
    G's target is D's "real" one (the non-saturating form for vanilla).
    """
    if kind == "hinge":
        return -scores.mean()
    return gan_loss(scores, True, kind)


def decision_cut(kind: str) -> float:
    """The score at which D's call flips from fake to real: 0.5 for least squares (targets 0 and 1),
    0 for the logit (vanilla), critic (wgan) and margin (hinge) losses."""
    return 0.5 if kind == "lsgan" else 0.0


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


def r1_penalty(real_scores: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean over samples of ||grad_x D(x)||_2^2 on real images.

    ``real_inputs`` must be the tensor D scored, with requires_grad set before the forward pass.
    Keeping D flat on the data stops it from sharpening around the few modes G has found, the
    instability that makes G chase them.  The graph is kept so that the penalty trains D.
    """
    if not real_inputs.requires_grad:
        raise ValueError("r1_penalty: real_inputs must require grad before D scores them")
    grad, = torch.autograd.grad(real_scores.sum(), real_inputs, create_graph=True)
    return grad.float().flatten(1).pow(2).sum(dim=1).mean()
