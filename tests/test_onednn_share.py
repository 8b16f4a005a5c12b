"""benchmarks/onednn_share.py: the README's "share of the tiny step inside oneDNN" comes from these sums."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import onednn_share  # noqa: E402

LOG = "\n".join([
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,forward_training,src,,16x1x64x64,9.0",  # warm-up
    onednn_share.MARK,
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,forward_training,src,,16x1x64x64,0.5",
    "onednn_verbose,v1,primitive,exec,cpu,convolution,brgconv:avx512_core,backward_data,src,,16x8x32x32,1.5",
    "onednn_verbose,v1,primitive,create:cache_hit,cpu,convolution,jit,forward_training,src,,16x1x64x64,7.0",
    "onednn_verbose,v1,primitive,exec,cpu,deconvolution,jit:avx512_core,forward_training,src,,16x8x32x32,2.0",
    "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:blk,undef,src,,32x16x4x4,0.25",
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,forward_training,src,,16x4x32x32,1.5",
    "WALL_MS 20.0",
])


def test_only_executions_after_the_mark_count_per_step_by_kind():
    ms = onednn_share.kernel_ms(LOG, steps=2)
    assert ms == {"convolution forward_training": 1.0, "transposed convolution forward_training": 1.0,
                  "convolution backward_data": 0.75, "reorder": 0.125}
    assert list(ms) == sorted(ms, key=ms.get, reverse=True)
    assert onednn_share.wall_ms(LOG) == 20.0


def test_this_torch_prints_the_lines_the_parser_reads():
    code = ("import torch, torch.nn.functional as F; print('" + onednn_share.MARK + "', flush=True); "
            "x = torch.randn(4, 8, 16, 16, requires_grad=True); w = torch.randn(8, 8, 4, 4, requires_grad=True); "
            "F.conv2d(x, w, None, 2, 1).sum().backward()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ONEDNN_VERBOSE": "1"}).stdout
    ms = onednn_share.kernel_ms(out, steps=1)
    if not ms:
        pytest.skip("this torch build runs these convolutions without oneDNN")
    assert "convolution forward_training" in ms and all(v >= 0 for v in ms.values())
