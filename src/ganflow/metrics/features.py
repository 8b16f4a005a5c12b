"""Checks and distance helpers shared by the feature-space metrics (KID, precision/recall, memorisation)."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Rows per block of a pairwise-distance computation: 1024 x 10k float64 is 80 MB.
BLOCK_ROWS = 1024


def check_features(features, name: str, min_rows: int = 2) -> np.ndarray:
    """A finite float64 (n, d) matrix with at least ``min_rows`` rows, or a ValueError naming ``name``."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"{name} features must be a 2-d array (images x dims), got shape {f.shape}")
    if f.shape[0] < min_rows:
        raise ValueError(f"{name} features: need at least {min_rows} images, got {f.shape[0]}")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} features contain NaN or inf values")
    return f


def distance_blocks(a: np.ndarray, b: np.ndarray, block: int = BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(start row, Euclidean distances of a[start:start+block] to every row of b), block by block.

    Uses |a|^2 + |b|^2 - 2 a.b (one matrix product per block), clipped at 0 before the root to
    absorb round-off; the same formula as stylegan2-ada's and torch-fidelity's implementations.
    """
    b_sq = np.einsum("ij,ij->i", b, b)
    for start in range(0, a.shape[0], block):
        chunk = a[start:start + block]
        sq = np.einsum("ij,ij->i", chunk, chunk)[:, None] + b_sq[None, :] - 2.0 * chunk @ b.T
        yield start, np.sqrt(np.clip(sq, 0.0, None))


def kth_neighbour_distances(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest *other* row (k=1: nearest neighbour)."""
    n = features.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k-th neighbour needs 1 <= k < number of images ({n}), got k={k}")
    out = np.empty(n)
    for start, d in distance_blocks(features, features):
        rows = np.arange(start, start + d.shape[0])
        d[np.arange(d.shape[0]), rows] = np.inf  # leave each point itself out
        out[rows] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return out


def nearest_neighbours(query: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query row: (distance to, index of) its nearest reference row."""
    dist = np.empty(query.shape[0])
    idx = np.empty(query.shape[0], dtype=np.int64)
    for start, d in distance_blocks(query, reference):
        j = d.argmin(axis=1)
        idx[start:start + d.shape[0]] = j
        dist[start:start + d.shape[0]] = d[np.arange(d.shape[0]), j]
    return dist, idx
