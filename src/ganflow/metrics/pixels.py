"""Per-pixel metrics against the truth, for paired tasks (the homework's RMSE and friends).

Images are float arrays in [0, 1] of shape (N, H, W) or (N, H, W, C).
"""
from __future__ import annotations

import numpy as np


def _check(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from the truth's {truth.shape}")
    if not (np.isfinite(pred).all() and np.isfinite(truth).all()):
        raise ValueError("NaN or inf among the pixels")
    return pred, truth


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """The homework's metric: root of the mean squared error over every pixel of every image."""
    pred, truth = _check(pred, truth)
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def masked_rmse(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """RMSE over the pixels where ``mask`` is true (the painted region only)."""
    pred, truth = _check(pred, truth)
    mask = np.broadcast_to(np.asarray(mask, dtype=bool).reshape(mask.shape + (1,) * (pred.ndim - mask.ndim)),
                           pred.shape)
    if not mask.any():
        raise ValueError("empty mask")
    return float(np.sqrt(np.mean((pred[mask] - truth[mask]) ** 2)))


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for data range 1 (inf when the images are identical)."""
    err = rmse(pred, truth)
    return float("inf") if err == 0 else float(20 * np.log10(1.0 / err))


def ssim_per_image(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Structural similarity of each image with its truth (skimage's implementation, data range 1).

    Each image is compared with its truth by ``skimage.metrics.structural_similarity`` with its
    defaults (7x7 uniform window, K1=0.01, K2=0.03; colour images per channel, then averaged).
    1 means identical.  Kept per image so a bootstrap can resample them (metrics/bootstrap.py).
    """
    from skimage.metrics import structural_similarity

    pred, truth = _check(pred, truth)
    if pred.ndim not in (3, 4):
        raise ValueError(f"expected images (N, H, W) or (N, H, W, C), got shape {pred.shape}")
    channel_axis = -1 if pred.ndim == 4 else None
    return np.array([structural_similarity(p, t, data_range=1.0, channel_axis=channel_axis)
                     for p, t in zip(pred, truth)])


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean structural similarity over the images (see :func:`ssim_per_image`)."""
    return float(np.mean(ssim_per_image(pred, truth)))
