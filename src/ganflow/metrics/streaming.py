"""Running mean and covariance of feature vectors fed chunk by chunk (FID at 50k images in bounded memory).

Each chunk is reduced to its own mean and centred scatter matrix in float64, then merged into the
running totals with Chan, Golub & LeVeque's pairwise update:

    n = na + nb,  delta = mean_b - mean_a
    mean = mean_a + delta * nb / n
    M2   = M2_a + M2_b + outer(delta, delta) * na * nb / n

Why not float64 sums of x and x x^T: pool3 features have means large next to their spread in some
dimensions, and sum(x x^T) / n - mean mean^T then cancels most of its digits; centring every chunk
at its own mean first keeps the scatter terms small.  The covariance is np.cov's (ddof = 1), so
FID from these statistics equals FID from the whole feature matrix.
"""
from __future__ import annotations

import numpy as np


class StreamingMoments:
    """``update(chunk)`` with (rows, d) features as often as needed; then ``mean``, ``cov()``, ``n``."""

    def __init__(self) -> None:
        self.n = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    @property
    def dim(self) -> int | None:
        return None if self._mean is None else int(self._mean.shape[0])

    def update(self, chunk) -> None:
        x = np.asarray(chunk, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be a 2-d chunk (images x dims), got shape {x.shape}")
        if x.shape[0] == 0:
            return
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or inf values; the statistics would be meaningless")
        if self._mean is not None and x.shape[1] != self._mean.shape[0]:
            raise ValueError(f"feature sizes differ between chunks: {self._mean.shape[0]} vs {x.shape[1]}")
        nb = x.shape[0]
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        m2_b = centred.T @ centred
        if self._mean is None:
            self.n, self._mean, self._m2 = nb, mean_b, m2_b
            return
        na, n = self.n, self.n + nb
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (nb / n)
        self._m2 += m2_b
        self._m2 += np.outer(delta, delta) * (na * nb / n)
        self.n = n

    @property
    def mean(self) -> np.ndarray:
        if self._mean is None:
            raise ValueError("no features were given to the running statistics")
        return self._mean.copy()

    def cov(self) -> np.ndarray:
        """Unbiased covariance (ddof 1, as np.cov), made exactly symmetric."""
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 images, got {self.n}; compute statistics over more images")
        c = self._m2 / (self.n - 1)
        return 0.5 * (c + c.T)
