"""benchmarks/step_table.py, the step table of bench_train.py: it must time what it says it times.

The contenders differ only in how they step: the "naive" one is ganflow as it stood before issue 19
(default Adam, the tiny decoder's literal UpSampling -> ZeroPad -> Conv), on the same weights.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import step_table  # noqa: E402

from ganflow.models.base import DataInfo  # noqa: E402
from ganflow.models.pix2pix_tiny import Pix2PixTiny, Pix2PixTinyConfig  # noqa: E402
from ganflow.nn.upconv import NearestUpConv  # noqa: E402


def _tiny():
    torch.manual_seed(0)
    return Pix2PixTiny(Pix2PixTinyConfig(), DataInfo(1, 32), step_table.LR, step_table.BETAS).eval()


def test_the_naive_contender_is_the_same_function_stepped_the_old_way():
    new, old = _tiny(), step_table.as_before_19(_tiny())
    assert not any(isinstance(m, NearestUpConv) for m in old.modules())
    assert any(isinstance(m, NearestUpConv) for m in new.modules())
    assert all(g["fused"] for opt in new.optimizers().values() for g in opt.param_groups)
    assert not any(g["fused"] for opt in (old.opt_G, old.opt_D) for g in opt.param_groups)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(old.G(x), new.G(x), rtol=0, atol=1e-5)
    # in training mode too (batch statistics, dropout-free nets): the same losses, to rounding
    new.train(), old.train()
    batch = {"A": x, "B": torch.rand(4, 1, 32, 32) * 2 - 1}
    for a, b in zip(new.d_loss(batch).values(), old.d_loss(batch).values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_table_runs_and_names_every_contender():
    text = step_table.run(size=32, repeats=1, threads=1, tiny_size=32)
    for name in ("reference (junyanz)", "naive (loop before #19)", "train_step fp32", "train_step channels_last"):
        assert text.count(name) >= 1, name
    assert "pix2pix_tiny, 32x32 grey, batch 16" in text
