"""Per-pixel metrics of paired tasks: RMSE (whole image, inside the mask), PSNR and SSIM."""
from __future__ import annotations

import numpy as np
import pytest

from ganflow.metrics.pixels import masked_rmse, psnr, rmse, ssim

C1 = (0.01 * 1.0) ** 2  # SSIM's constants for data range 1
C2 = (0.03 * 1.0) ** 2


def test_rmse_psnr_known_values():
    truth = np.zeros((2, 8, 8))
    pred = np.full((2, 8, 8), 0.1)
    assert rmse(pred, truth) == pytest.approx(0.1)
    assert psnr(pred, truth) == pytest.approx(20.0)
    assert psnr(truth, truth) == float("inf")


def test_masked_rmse_only_counts_the_mask():
    truth = np.zeros((1, 4, 4))
    pred = truth.copy()
    pred[0, :2, :2] = 0.5  # error inside the mask only
    mask = np.zeros((1, 4, 4), dtype=bool)
    mask[0, :2, :] = True  # 8 pixels, 4 of them wrong by 0.5
    assert masked_rmse(pred, truth, mask) == pytest.approx(np.sqrt(4 * 0.25 / 8))
    assert rmse(pred, truth) == pytest.approx(np.sqrt(4 * 0.25 / 16))


def test_ssim_of_constant_images_closed_form():
    # Constant images: both variances and the covariance are 0, so per window
    # SSIM = (2 a b + C1) / (a^2 + b^2 + C1) * (0 + C2) / (0 + C2).
    a, b = 0.5, 0.25
    pred, truth = np.full((1, 16, 16), a), np.full((1, 16, 16), b)
    assert ssim(pred, truth) == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1), rel=1e-9)


def test_ssim_single_window_direct_formula():
    # A 7 x 7 image is exactly one 7 x 7 window; skimage uses the sample (n-1) covariance.
    rng = np.random.default_rng(0)
    x, y = rng.random((7, 7)), rng.random((7, 7))
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(ddof=1), y.var(ddof=1)
    cxy = ((x - mx) * (y - my)).sum() / 48
    expected = (2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    assert ssim(x[None], y[None]) == pytest.approx(expected, rel=1e-9)


def test_ssim_identical_is_one_and_averages_images():
    rng = np.random.default_rng(1)
    imgs = rng.random((3, 16, 16))
    assert ssim(imgs, imgs) == pytest.approx(1.0)
    noisy = np.clip(imgs + rng.normal(0, 0.2, imgs.shape), 0, 1)
    each = [ssim(noisy[i:i + 1], imgs[i:i + 1]) for i in range(3)]
    assert ssim(noisy, imgs) == pytest.approx(np.mean(each))
    assert ssim(noisy, imgs) < 0.9


def test_ssim_colour_images():
    rng = np.random.default_rng(2)
    imgs = rng.random((2, 16, 16, 3))
    assert ssim(imgs, imgs) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differs"):
        ssim(imgs, imgs[..., 0])
