"""Kernel Inception Distance (Binkowski et al. 2018), as torch-fidelity and clean-fid compute it.

KID is the unbiased estimate of the squared MMD between real and generated features under the
cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets:

    MMD^2_u = sum_{i!=j} k(x_i,x_j) / (m(m-1)) + sum_{i!=j} k(y_i,y_j) / (n(n-1))
              - 2 sum_{i,j} k(x_i,y_j) / (mn)

Unlike FID it has an unbiased estimator, so small sets (tens to hundreds of images) compare fairly
across sizes; it can be slightly negative when the two sets are alike.
"""
from __future__ import annotations

import numpy as np

from ganflow.metrics.features import check_features

# Precompute whole kernel matrices when they fit comfortably (entries per matrix); subsets then
# only index them, instead of re-multiplying 2048-d features for each of 100 subsets.
_FULL_KERNEL_MAX = 4096 * 4096


def capped_subset_size(asked: int, n_real: int, n_fake: int) -> int:
    """The subset size KID uses: ``asked``, but at most half the smaller set (and at least 2).

    Why: with subsets as large as the set (torch-fidelity's min(asked, n)), every subset is the
    whole set below 1000 images, and the std over subsets is 0 however few images there are.
    Half the set makes the subsets differ, so the std is the spread of KID at that subset size.
    """
    return max(2, min(asked, min(n_real, n_fake) // 2))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """(x y^T * gamma + coef0) ** degree with gamma = 1/d by default."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 from the three kernel matrices (diagonals of k_xx, k_yy left out)."""
    m, n = k_xx.shape[0], k_yy.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"unbiased MMD needs at least 2 samples per set, got {m} and {n}")
    xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * k_xy.sum() / (m * n))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0, degree: int = 3,
                              coef0: float = 1.0) -> dict:
    """KID mean and std over ``subsets`` random subsets of size min(subset_size, n_real, n_fake).

    Subsets are drawn without replacement with ``np.random.RandomState(seed)``, the fake subset
    first then the real one (torch-fidelity's order, with input1 = generated); std is the
    population std (ddof=0) of the subset values, as torch-fidelity reports it.
    """
    real, fake = check_features(real, "real"), check_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    size = min(subset_size, real.shape[0], fake.shape[0])
    if size < 2:
        raise ValueError(f"KID needs subsets of at least 2 images, got {size}")

    def kern(a, b):
        return polynomial_kernel(a, b, degree=degree, coef0=coef0)

    full = max(real.shape[0], fake.shape[0]) ** 2 <= _FULL_KERNEL_MAX
    if full:
        k_ff, k_rr, k_fr = kern(fake, fake), kern(real, real), kern(fake, real)
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        i_f = rng.choice(fake.shape[0], size, replace=False)
        i_r = rng.choice(real.shape[0], size, replace=False)
        if full:
            values.append(mmd2_unbiased(k_ff[np.ix_(i_f, i_f)], k_rr[np.ix_(i_r, i_r)], k_fr[np.ix_(i_f, i_r)]))
        else:
            f, r = fake[i_f], real[i_r]
            values.append(mmd2_unbiased(kern(f, f), kern(r, r), kern(f, r)))
    values = np.asarray(values)
    return {"mean": float(values.mean()), "std": float(values.std()), "subsets": subsets,
            "subset_size": size, "kernel": f"(x.y/d + {coef0:g})^{degree}", "seed": seed}
