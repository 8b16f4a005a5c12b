"""The image pool of Shrivastava et al. (2017), as CycleGAN uses it: D sees a history of fakes.

Training D only on the newest fakes lets G and D chase each other in circles; a pool of the last
50 fakes breaks that.  Until the pool is full every fake is stored and returned as is; then each
fake, with probability 1/2, is swapped with a random stored one (the stored one is returned, the
new one kept), else returned as is.

The pool is a module whose contents are buffers, so they are in the model's state_dict and a
resumed run continues with the same history.  Its coin flips use torch's global generator, whose
state the training loop saves with each checkpoint.
"""
from __future__ import annotations

import torch
from torch import nn


class ImagePool(nn.Module):
    def __init__(self, size: int, image_shape: tuple[int, ...]):
        super().__init__()
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.register_buffer("images", torch.zeros(size, *image_shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """A batch the size of ``fakes``: each entry a new fake or an older one from the pool."""
        if self.size == 0:
            return fakes.detach()
        out = []
        for fake in fakes.detach():
            n = int(self.count)
            if n < self.size:
                self.images[n] = fake
                self.count += 1
                out.append(fake)
            elif float(torch.rand(())) < 0.5:
                k = int(torch.randint(0, self.size, ()))
                out.append(self.images[k].clone().to(fake.dtype))  # a copy: the slot is overwritten next
                self.images[k] = fake
            else:
                out.append(fake)
        return torch.stack(out)
