"""Nearest-neighbour x2 upsampling + a stride-1 convolution, computed as one transposed convolution.

Keras's ``UpSampling2D(2)`` followed by ``Conv2D(k, padding='same')`` (pix2pix_tiny's decoder, the
course's strong baseline) is, per output pixel, a small sum over the *low-resolution* input: an
output pixel at row 2t + p (phase p = 0 or 1) reads upsampled rows 2t + p + j - pad_before for
the taps j = 0..k-1, and upsampled row m is input row floor(m / 2).  So every tap lands on input
row t + d with d = floor((p + j - pad_before) / 2), and taps landing on the same row add up.  That
is a stride-2 transposed convolution whose kernel is a fixed linear map of the k x k weight:

    K = A W A^T,    A[i, j] = 1 where tap j of phase p lands at index i = p - 2d + P

(P shifts the smallest index to 0).  For k = 4 with TF 'same' padding (1 before, 2 after) the
1-D map is [w3, w2 + w3, w1 + w2, w0 + w1, w0]: a 5 x 5 kernel, padding 2, output padding 1.

Same function, same parameters (the layer *is* a Conv2d: its weight and bias are the spec's), a
quarter of the pixels to visit: the upsampled map is never made, and the 4 x 4 convolution over it
(16 taps at 4x the pixels: 64 per input pixel) becomes 25 taps per input pixel, in one call instead
of three (forward and backward).  benchmarks/bench_train.py times pix2pix_tiny's step both ways;
the results agree to float rounding (tests/test_upconv.py checks against the literal layers).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tap_map(kernel_size: int, pad_before: int) -> tuple[torch.Tensor, int, int]:
    """(A, padding, output_padding) of the transposed convolution equal to nearest x2 upsampling
    followed by a stride-1 convolution of ``kernel_size`` padded ``pad_before`` before and
    ``kernel_size - 1 - pad_before`` after (so the output is exactly twice the input's size)."""
    if not 0 <= pad_before < kernel_size:
        raise ValueError(f"pad_before must be in [0, {kernel_size}), got {pad_before}")
    # (phase p, tap j) -> the offset p - 2d of the input row it reads, d = floor((p + j - pad_before) / 2)
    offsets = {(p, j): p - 2 * ((p + j - pad_before) // 2) for p in (0, 1) for j in range(kernel_size)}
    lead, size = -min(offsets.values()), max(offsets.values()) - min(offsets.values()) + 1
    # The output is 2n when (n - 1) * 2 - 2 padding + size + output_padding = 2n, output_padding
    # 0 or 1: pad the kernel with zero rows (before: padding grows too) until that holds.
    padding, extra_before, extra_after = lead, 0, 0
    while 2 + 2 * padding - (size + extra_before + extra_after) < 0:
        extra_before, padding = extra_before + 1, padding + 1
    while 2 + 2 * padding - (size + extra_before + extra_after) > 1:
        extra_after += 1
    output_padding = 2 + 2 * padding - (size + extra_before + extra_after)
    A = torch.zeros(size + extra_before + extra_after, kernel_size)
    for (_, j), off in offsets.items():
        A[off + lead + extra_before, j] = 1.0
    return A, padding, output_padding


class NearestUpConv(nn.Conv2d):
    """``Upsample(2, 'nearest')`` -> pad (pad_before, k - 1 - pad_before) -> ``Conv2d(k, stride 1)``,
    as one transposed convolution.  Its parameters are the Conv2d's own (weight (out, in, k, k),
    bias), so a state dict moves between the two forms unchanged."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pad_before: int, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=bias)
        self.pad_before = pad_before
        A, self.t_padding, self.t_output_padding = tap_map(kernel_size, pad_before)
        self.register_buffer("tap_matrix", A, persistent=False)

    def transposed_weight(self) -> torch.Tensor:
        """K = A W A^T in conv_transpose2d's layout (in, out, size, size), in the weight's dtype."""
        A = self.tap_matrix.to(self.weight.dtype)
        return torch.einsum("ak,oikl,bl->ioab", A, self.weight, A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The kernel is mixed outside autocast: a bf16 einsum would round each sum of up to four
        # weights before the convolution rounds again; the convolution itself still autocasts.
        with torch.autocast(x.device.type, enabled=False):
            weight = self.transposed_weight()
        return F.conv_transpose2d(x, weight, self.bias, stride=2, padding=self.t_padding,
                                  output_padding=self.t_output_padding)
