"""Minibatch standard deviation (Karras et al. 2018, ProGAN): one extra feature plane telling D how
varied its batch is.

A generator that drops modes makes batches that are too alike; D sees that directly in this
plane (the mean over features and positions of the per-feature standard deviation across the
batch) and can punish it, which a D judging each image on its own cannot.  D's real and fake
batches go through it separately, so the statistic compares like with like.
"""
from __future__ import annotations

import torch
from torch import nn


class MinibatchStdDev(nn.Module):
    """(N, C, H, W) -> (N, C + 1, H, W); the extra plane is the same constant for every image."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # Biased std (correction 0): a batch of one gives 0 rather than NaN (sampling, tests).
        s = h.float().std(0, correction=0).mean().to(h.dtype)
        return torch.cat([h, s.expand(h.shape[0], 1, *h.shape[2:])], 1)
