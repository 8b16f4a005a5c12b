"""Improved precision and recall (Kynkaanniemi et al. 2019) on feature vectors.

Each set's manifold is the union of balls around its points, each ball's radius the distance to
that point's k-th nearest neighbour in the same set (k=3 in the paper).

* precision: the fraction of generated points inside the real manifold (are samples realistic?);
* recall:    the fraction of real points inside the generated manifold (is the data covered?).

A point lies inside when its distance to some ball's centre is <= that ball's radius.  Low recall
with fine precision is the signature of mode dropping.
"""
from __future__ import annotations

import numpy as np

from ganflow.metrics.features import check_features, distance_blocks, kth_neighbour_distances


def manifold_coverage(query: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Boolean per query row: within radii[j] of some centres[j]."""
    inside = np.zeros(query.shape[0], dtype=bool)
    for start, d in distance_blocks(query, centres):
        inside[start:start + d.shape[0]] = (d <= radii[None, :]).any(axis=1)
    return inside


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict:
    """{'precision', 'recall', 'k', 'n_real', 'n_fake'} for two feature matrices."""
    real, fake = check_features(real, "real", k + 1), check_features(fake, "fake", k + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    real_radii = kth_neighbour_distances(real, k)
    fake_radii = kth_neighbour_distances(fake, k)
    precision = manifold_coverage(fake, real, real_radii).mean()
    recall = manifold_coverage(real, fake, fake_radii).mean()
    return {"precision": float(precision), "recall": float(recall), "k": k,
            "n_real": int(real.shape[0]), "n_fake": int(fake.shape[0])}
