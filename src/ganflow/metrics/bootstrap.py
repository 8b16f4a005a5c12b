"""Percentile bootstrap intervals over test images: how much a number moves with the test set.

A metric computed on 20 test faces is one draw; resampling the images with replacement (Efron's
bootstrap) and recomputing it gives its sampling spread.  The draws come from
``numpy.random.default_rng(seed)`` and the seed is recorded, so an interval is reproducible.
The statistic is computed from per-image parts (each image's sum of squared errors and pixel
count for RMSE), so one resample costs one weighted mean, not a pass over the pixels.

Every interval is the same record (``interval_record``): low, high, level, method, resamples,
seed, n.  Pixel scores and accuracies resample test images (or samples); FID and KID resample
the generated images' features against the fixed reference set (its features are not redrawn),
so their intervals say how much the number moves with which images the generator happened to
produce, at the stated n.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95
# FID's replicates each cost a small eigen-decomposition; 200 keeps a whole interval under a
# second at the hundreds of images a CPU run evaluates, and its 2.5% / 97.5% points move by a
# few percent of the width between seeds (enough for a stated spread, not for a p-value).
FEATURE_RESAMPLES = 200
METHOD = "percentile bootstrap over test images"


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


def interval_record(replicates: np.ndarray, *, level: float, resamples: int, seed: int, n: int,
                    method: str = METHOD) -> dict:
    """The one shape every interval in a metric file has (rmse.json's "interval" set it)."""
    low, high = percentile_interval(replicates, level)
    return {"low": low, "high": high, "level": level, "method": method, "resamples": resamples,
            "seed": seed, "n": n}


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, *, resamples: int = DEFAULT_RESAMPLES,
              seed: int = 0, level: float = DEFAULT_LEVEL) -> dict:
    """Interval of ``statistic(indices)`` (a function of which items were drawn) over resamples."""
    replicates = np.array([statistic(idx) for idx in resample_indices(n, resamples, seed)])
    return interval_record(replicates, level=level, resamples=resamples, seed=seed, n=n)


def ratio_replicates(numerator: np.ndarray, denominator: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """sum(numerator[draw]) / sum(denominator[draw]) for every row of draws, all at once."""
    num, den = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    return num[idx].sum(axis=1) / den[idx].sum(axis=1)


def mean_interval(values: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                  level: float = DEFAULT_LEVEL, method: str = METHOD) -> dict:
    """Interval of the mean of per-item values (per-image SSIM, 0/1 hits of an accuracy)."""
    values = np.asarray(values, np.float64)
    idx = resample_indices(len(values), resamples, seed)
    return interval_record(values[idx].mean(axis=1), level=level, resamples=resamples, seed=seed,
                           n=len(values), method=method)


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES,
                   seed: int = 0, level: float = DEFAULT_LEVEL, method: str = METHOD) -> dict:
    """Interval of a pooled fraction sum(num) / sum(den) resampling whole items: e.g. an accuracy
    pooled over several translations of each test image (hits and tries per image), so that the
    translations of one image stay together as the one draw they are."""
    num, den = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"numerator and denominator must be vectors of one length, got {num.shape} and {den.shape}")
    idx = resample_indices(len(num), resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = ratio_replicates(num, den, idx)
    if not np.isfinite(replicates).all():  # a draw of only items without tries: rare, no fraction
        raise ValueError("some resamples drew only items with a zero denominator; too few items with tries")
    return interval_record(replicates, level=level, resamples=resamples, seed=seed, n=len(num), method=method)


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
    replicates = np.sqrt(ratio_replicates(sse, count, idx))  # all resamples at once
    return interval_record(replicates, level=level, resamples=resamples, seed=seed, n=len(sse))


def psnr_interval(output: np.ndarray, truth: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES,
                  seed: int = 0, level: float = DEFAULT_LEVEL) -> dict:
    """Bootstrap interval of PSNR (data range 1, dB) of the pooled MSE, resampling test images.

    The same draws as :func:`rmse_interval` at the same seed; PSNR is computed per replicate
    (not by mapping RMSE's ends) since numpy's interpolated percentiles only commute with
    linear maps.  A replicate with MSE 0 (identical images) is inf dB, as :func:`psnr` says.
    """
    sse, count = per_image_squared_error(output, truth)
    idx = resample_indices(len(sse), resamples, seed)
    with np.errstate(divide="ignore"):
        replicates = -10.0 * np.log10(ratio_replicates(sse, count, idx))
    return interval_record(replicates, level=level, resamples=resamples, seed=seed, n=len(sse))


# -- feature-set metrics: resample the generated images, keep the reference fixed ------------------


def _check_pair(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ganflow.metrics.features import check_features

    real, fake = check_features(real, "real"), check_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    return real, fake


FEATURE_METHOD = ("percentile bootstrap over the generated images (their features resampled with replacement; "
                  "the reference set's features fixed)")


def fid_replicates(real: np.ndarray, fake: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """FID(fake[draw], real) for every row of draws, without a d x d matrix per draw.

    With y = (real - mu_r) / sqrt(m - 1) fixed and x_b = (fake[draw] - mu_b) / sqrt(n - 1), the
    covariances are S_b = x_b^T x_b and S_r = y^T y (np.cov's, ddof 1), so tr sqrt(S_b S_r) is the
    sum of the singular values of x_b y^T (metrics/frechet.py, frechet_distance_from_features).
    x_b y^T is the drawn rows of P = fake y^T, column-centred over the draw: P is computed once,
    and each draw costs an n x m Gram matrix and its eigenvalues (on the smaller side), not a pass
    over the 2048-d features.  Exact for any n (duplicates included), not an approximation.
    """
    real, fake = _check_pair(real, fake)
    n, m = idx.shape[1], real.shape[0]
    mu_r = real.mean(axis=0)
    y = (real - mu_r) / np.sqrt(m - 1)
    tr_r = np.einsum("ij,ij->", y, y)
    p = fake @ y.T  # (n_fake, m)
    out = np.empty(len(idx))
    for b, draw in enumerate(idx):
        f = fake[draw]
        mu_b = f.mean(axis=0)
        centred = f - mu_b
        a = (p[draw] - p[draw].mean(axis=0)) / np.sqrt(n - 1)  # = x_b y^T
        gram = a.T @ a if m <= n else a @ a.T
        tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None)).sum()
        gap = mu_b - mu_r
        out[b] = gap @ gap + np.einsum("ij,ij->", centred, centred) / (n - 1) + tr_r - 2.0 * tr_covmean
    return out


def shifted_feature_interval(replicates: np.ndarray, value: float, *, level: float, resamples: int,
                             seed: int, n: int, method: str) -> dict:
    """The percentile interval moved by ``value - median(replicates)``: the spread, centred on the value.

    A resample repeats about 37% of the generated images, and FID (KID much less) grows as a set's
    distinct images shrink, so the raw replicates sit above the value (on 20 random 2048-d
    features: FID 3963, replicates' 95% [3982, 4061]). Removing the replicates' own median shift
    keeps their spread and puts the value inside it; the shift is recorded.
    """
    rec = interval_record(replicates, level=level, resamples=resamples, seed=seed, n=n,
                          method=method + "; shifted by value - median(replicates)")
    shift = float(value - np.median(replicates))
    return {**rec, "low": rec["low"] + shift, "high": rec["high"] + shift, "resample_shift": shift}


def fid_interval(real: np.ndarray, fake: np.ndarray, *, resamples: int = FEATURE_RESAMPLES, seed: int = 0,
                 level: float = DEFAULT_LEVEL) -> dict:
    """Bootstrap interval of FID(fake, real) over the generated images, at the generated count n.

    It is the spread of FID at this n (which images the generator happened to produce), centred on
    the value (``shifted_feature_interval``), not a confidence interval for FID at infinite n.
    """
    real, fake = _check_pair(real, fake)
    idx = resample_indices(len(fake), resamples, seed)
    value = float(fid_replicates(real, fake, np.arange(len(fake))[None])[0])
    return shifted_feature_interval(fid_replicates(real, fake, idx), value, level=level, resamples=resamples,
                                    seed=seed, n=len(fake), method=FEATURE_METHOD)


def kid_replicates(real: np.ndarray, fake: np.ndarray, idx: np.ndarray, degree: int = 3,
                   coef0: float = 1.0) -> np.ndarray:
    """Whole-set unbiased MMD^2 (metrics/kid.py's estimator) of fake[draw] against real, per row of draws.

    With c the draw's counts per generated image and K the kernel matrices, the drawn set's
    off-diagonal sum is c^T K_ff c - c . diag(K_ff) (a repeated image meets its copies, as the
    estimator applied to the drawn rows would have it), and its cross sum is c^T K_fr 1: every
    draw is two products with matrices computed once.
    """
    from ganflow.metrics.kid import polynomial_kernel

    real, fake = _check_pair(real, fake)
    n, m = idx.shape[1], real.shape[0]

    def kern(a, b):
        return polynomial_kernel(a, b, degree=degree, coef0=coef0)

    k_ff, k_rr, k_fr = kern(fake, fake), kern(real, real), kern(fake, real)
    counts = np.stack([np.bincount(draw, minlength=len(fake)) for draw in idx]).astype(np.float64)
    xx = (((counts @ k_ff) * counts).sum(axis=1) - counts @ np.diag(k_ff)) / (n * (n - 1))
    yy = (k_rr.sum() - np.trace(k_rr)) / (m * (m - 1))
    xy = counts @ k_fr.sum(axis=1) / (n * m)
    return xx + yy - 2.0 * xy


def kid_interval(real: np.ndarray, fake: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                 level: float = DEFAULT_LEVEL, degree: int = 3, coef0: float = 1.0) -> dict:
    """Bootstrap interval of the whole-set unbiased KID over the generated images, at their n."""
    real, fake = _check_pair(real, fake)
    idx = resample_indices(len(fake), resamples, seed)
    value = float(kid_replicates(real, fake, np.arange(len(fake))[None], degree, coef0)[0])
    return shifted_feature_interval(kid_replicates(real, fake, idx, degree, coef0), value, level=level,
                                    resamples=resamples, seed=seed, n=len(fake),
                                    method=FEATURE_METHOD + "; each replicate the unbiased MMD^2 of the whole "
                                                            "drawn set")
