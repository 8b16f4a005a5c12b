"""Learning-rate schedules a model may hand the training loop (``GAN.schedulers``).

CycleGAN keeps the rate for the first half of training and then lowers it linearly towards
zero (junyanz's ``linear`` policy, there per epoch, here per step); StarGAN does the same over
its last iterations.  The loop steps every scheduler once per training step and keeps their
state in the checkpoint, so a resumed run continues on the same curve.
"""
from __future__ import annotations

import torch


def linear_decay_factor(step: int, total_steps: int, decay_from: float = 0.5) -> float:
    """The rate multiplier at ``step`` (0-based): 1 until ``decay_from * total_steps``, then linear.

    Over the decay part the factor falls by 1/(n_decay + 1) per step, as junyanz's rule
    ``1 - max(0, epoch - n_epochs) / (n_epochs_decay + 1)`` does per epoch: the last step trains
    at a small positive rate, never at exactly 0.
    """
    if not 0 <= decay_from <= 1:
        raise ValueError(f"decay_from must be in [0, 1], got {decay_from}")
    start = int(round(decay_from * total_steps))
    n_decay = total_steps - start
    return 1.0 - max(0, step - start + 1) / (n_decay + 1)


def linear_decay(optimizers: dict[str, torch.optim.Optimizer], total_steps: int,
                 decay_from: float = 0.5) -> dict[str, torch.optim.lr_scheduler.LambdaLR]:
    """One LambdaLR per optimiser following :func:`linear_decay_factor`."""
    def factor(step: int) -> float:
        return linear_decay_factor(step, total_steps, decay_from)
    return {name: torch.optim.lr_scheduler.LambdaLR(opt, factor) for name, opt in optimizers.items()}
