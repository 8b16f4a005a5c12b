"""Differentiable translation (Zhao et al. 2020, DiffAugment), label-free help for a D on few images.

D sees real and generated images shifted by the same kind of random translation, so it cannot
memorise the 1,437 training digits pixel for pixel; the shift is differentiable (a gather), so G
learns through it.  Translation only: flips and colour changes are not digit-preserving here, and
the augmented images are never what G is asked to draw, since real and fake both get it.
What shifts in is black (-1 in tanh's range): the digits are white on black.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def translate(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) moved by a random integer shift of up to ``fraction`` of
    its size in each direction; what moves out is lost, what comes in is the background, -1."""
    if fraction <= 0:
        return x
    n, _, h, w = x.shape
    sy, sx = int(h * fraction + 0.5), int(w * fraction + 0.5)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy[None] + dy + sy).clamp(0, h + 2 * sy - 1)  # index into the padded image
    gx = (gx[None] + dx + sx).clamp(0, w + 2 * sx - 1)
    padded = F.pad(x, [sx, sx, sy, sy], value=-1.0)
    idx = (gy * (w + 2 * sx) + gx).flatten(1)                         # (N, H*W)
    flat = padded.flatten(2)                                          # (N, C, (H+2sy)(W+2sx))
    return flat.gather(2, idx[:, None].expand(-1, x.shape[1], -1)).view_as(x)
