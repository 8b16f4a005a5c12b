"""Gaussian statistics of features and the Frechet distance between them.

FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)).

:func:`frechet_distance` computes the trace term from symmetric
eigen-decompositions; :func:`frechet_distance_sqrtm_reference` is
pytorch-fid's own ``scipy.linalg.sqrtm`` computation, kept as the
independent reference for tests and benchmarks.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of a feature matrix with one row per image."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2:
        raise ValueError(f"features must be a 2-d array (images x dims), got shape {feats.shape}")
    if feats.shape[0] < 2:
        raise ValueError(
            f"a covariance needs at least 2 images, got {feats.shape[0]}; "
            "compute statistics over more images"
        )
    if not np.isfinite(feats).all():
        raise ValueError("features contain NaN or inf values; the statistics would be meaningless")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def _check_stats(mu1, sigma1, mu2, sigma2) -> tuple[np.ndarray, ...]:
    """Cast to float64 and check that means are (d,) and covariances (d, d)."""
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if mu.ndim != 1:
            raise ValueError(f"{name} must be a vector, got shape {mu.shape}")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors have different lengths: {mu1.shape[0]} vs {mu2.shape[0]}")
    d = mu1.shape[0]
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (d, d):
            raise ValueError(f"{name} must be {d} x {d} to match the means, got shape {sigma.shape}")
    for name, arr in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf values")
    return mu1, sigma1, mu2, sigma2


def _sqrtm_psd(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix; tiny negative eigenvalues (round-off) clip to 0."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    The trace of sqrt(S1 S2) is computed without ``scipy.linalg.sqrtm``.
    With A = sqrt(S1) (symmetric PSD) and M = A S2 A:

    * S1 S2 = A (A S2) and M = (A S2) A. XY and YX always share their
      eigenvalues (and are similar when A is invertible), so S1 S2 has the
      eigenvalues of M: real and >= 0, because M is symmetric PSD.
    * The principal square root has the square roots of those eigenvalues,
      so tr sqrt(S1 S2) = sum_i sqrt(lambda_i(M)).

    Why: ``sqrtm`` runs a complex Schur decomposition of the non-symmetric
    product S1 S2 plus a triangular recurrence; two symmetric eigensolvers
    (``eigh``, ``eigvalsh``) on real matrices are several times faster at
    2048 dimensions (measured 5.1 s vs 24 s, 4.8x, on a 2-core CPU), never
    return spurious imaginary parts, and need no eps*I retry for singular
    covariances.
    """
    mu1, sigma1, mu2, sigma2 = _check_stats(mu1, sigma1, mu2, sigma2)
    # Covariances are symmetric up to round-off; make them exactly so for eigh.
    sigma1 = 0.5 * (sigma1 + sigma1.T)
    sigma2 = 0.5 * (sigma2 + sigma2.T)

    a = _sqrtm_psd(sigma1)
    m = a @ sigma2 @ a
    m = 0.5 * (m + m.T)
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(m), 0.0, None)).sum()

    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_of_one_image(mu, sigma, features) -> float:
    """FID against (mu, sigma) of a set that is one image repeated (the no-learning "mean image"
    baselines): its covariance is 0, so FID = |mu - x|^2 + tr(sigma), for any number of copies."""
    gap = np.asarray(mu, np.float64) - np.asarray(features, np.float64)
    return float(gap @ gap + np.trace(np.asarray(sigma, np.float64)))


def frechet_distance_from_features(features1, features2) -> float:
    """Frechet distance between the Gaussians fitted to two feature matrices (rows = images).

    Equal to ``frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))``, computed in the
    smaller of two spaces.  With centred, scaled features X = (f1 - mu1) / sqrt(n1 - 1) and
    Y likewise, S1 = X^T X and S2 = Y^T Y, so S1 S2 = X^T (X Y^T) Y, whose nonzero eigenvalues
    are those of (X Y^T)(X Y^T)^T: the squared singular values of the n1 x n2 matrix X Y^T.
    Hence tr sqrt(S1 S2) is the sum of the singular values of X Y^T, and tr S1 = ||X||_F^2.

    Why: below 2048 images per set (the usual case on a CPU) this is one n1 x n2 SVD instead
    of two 2048 x 2048 eigen-decompositions (1000 images: ~10x less work).  With more images
    than dimensions the covariance route is the cheaper one and is used instead.
    """
    from ganflow.metrics.features import check_features

    f1, f2 = check_features(features1, "first"), check_features(features2, "second")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    n1, n2, d = f1.shape[0], f2.shape[0], f1.shape[1]
    if min(n1, n2) >= d:
        return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    x = (f1 - mu1) / np.sqrt(n1 - 1)
    y = (f2 - mu2) / np.sqrt(n2 - 1)
    tr_covmean = np.linalg.svd(x @ y.T, compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.einsum("ij,ij->", x, x) + np.einsum("ij,ij->", y, y) - 2.0 * tr_covmean)


def frechet_distance_sqrtm_reference(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """pytorch-fid's ``calculate_frechet_distance``: the independent reference.

    Uses ``scipy.linalg.sqrtm`` of S1 S2; if that is not finite (singular
    product) retries with eps*I added to both covariances, and discards an
    imaginary part that is numerical noise.
    """
    mu1, sigma1, mu2, sigma2 = _check_stats(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2

    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"fid calculation produces singular product; adding {eps} to diagonal of cov estimates",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))

    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in sqrtm(S1 S2)")
        covmean = covmean.real

    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
