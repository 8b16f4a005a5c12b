"""Percentile bootstrap intervals over test images: how much a number moves with the test set.

A metric computed on 20 test faces is one draw; resampling the images with replacement (Efron's
bootstrap) and recomputing it gives its sampling spread.  The draws come from
``numpy.random.default_rng(seed)`` and the seed is recorded, so an interval is reproducible.
The statistic is computed from per-image parts (each image's sum of squared errors and pixel
count for RMSE), so one resample costs one weighted mean, not a pass over the pixels.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


def resample_indices(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, n) indices drawn with replacement from 0..n-1."""
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 items, got {n}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def percentile_interval(values: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap replicates (numpy's linear percentiles)."""
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(np.asarray(values, np.float64), [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, *, resamples: int = DEFAULT_RESAMPLES,
              seed: int = 0, level: float = DEFAULT_LEVEL) -> dict:
    """Interval of ``statistic(indices)`` (a function of which items were drawn) over resamples."""
    replicates = np.array([statistic(idx) for idx in resample_indices(n, resamples, seed)])
    low, high = percentile_interval(replicates, level)
    return {"low": low, "high": high, "level": level, "method": "percentile bootstrap over test images",
            "resamples": resamples, "seed": seed, "n": n}


def per_image_squared_error(output: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum of squared errors, pixel count) per image: the parts RMSE is made of."""
    diff = np.asarray(output, np.float64) - np.asarray(truth, np.float64)
    sse = (diff.reshape(len(diff), -1) ** 2).sum(axis=1)
    return sse, np.full(len(diff), diff[0].size, dtype=np.float64)


def rmse_interval(output: np.ndarray, truth: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES,
                  seed: int = 0, level: float = DEFAULT_LEVEL) -> dict:
    """Bootstrap interval of RMSE over every pixel, resampling whole test images."""
    sse, count = per_image_squared_error(output, truth)
    idx = resample_indices(len(sse), resamples, seed)
    replicates = np.sqrt(sse[idx].sum(axis=1) / count[idx].sum(axis=1))  # all resamples at once
    low, high = percentile_interval(replicates, level)
    return {"low": low, "high": high, "level": level, "method": "percentile bootstrap over test images",
            "resamples": resamples, "seed": seed, "n": len(sse)}
