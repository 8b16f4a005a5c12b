"""Memorisation: how close each generated image comes to its nearest training image.

"We don't want a memory GAN": a generator that reproduces training images scores well on FID and
IS while having learnt nothing.  For each generated image we take the Euclidean distance, in
feature space, to its nearest training image.  What counts as "close" is set relative to the data
itself: the threshold is ``relative_threshold`` times the median distance from a training image
to its nearest *other* training image (distinct real images are typically that far apart), so a
fake closer than half that is suspiciously near a copy.  When held-out real images are given, the
same fraction for them is the baseline an honest generator should be compared with.
"""
from __future__ import annotations

import numpy as np

from ganflow.metrics.features import check_features, kth_neighbour_distances, nearest_neighbours


def memorisation(fake: np.ndarray, train: np.ndarray, relative_threshold: float = 0.5,
                 holdout: np.ndarray | None = None, n_closest: int = 16) -> dict:
    """Nearest-training-image distances of ``fake`` and the fraction below the threshold.

    Returns JSON-able values plus ``distances`` / ``nearest`` (per fake, arrays) and
    ``closest`` (indices of the ``n_closest`` fakes nearest to a training image, closest first).
    """
    fake = check_features(fake, "generated", 1)
    train = check_features(train, "training", 2)
    if fake.shape[1] != train.shape[1]:
        raise ValueError(f"feature sizes differ: generated {fake.shape[1]}, training {train.shape[1]}")
    if relative_threshold <= 0:
        raise ValueError(f"relative_threshold must be > 0, got {relative_threshold}")

    train_nn = kth_neighbour_distances(train, 1)
    scale = float(np.median(train_nn))
    threshold = relative_threshold * scale
    dist, idx = nearest_neighbours(fake, train)
    closest = np.argsort(dist, kind="stable")[:n_closest]
    out = {
        "fraction_below_threshold": float((dist < threshold).mean()),
        "threshold": threshold, "relative_threshold": relative_threshold,
        "train_nn_median": scale,
        "fake_to_train_min": float(dist.min()), "fake_to_train_median": float(np.median(dist)),
        "fake_to_train_mean": float(dist.mean()),
        "median_ratio": float(np.median(dist) / scale) if scale > 0 else None,
        "n_fake": int(fake.shape[0]), "n_train": int(train.shape[0]),
        "distances": dist, "nearest": idx, "closest": closest,
    }
    if holdout is not None:
        holdout = check_features(holdout, "held-out", 1)
        h_dist, _ = nearest_neighbours(holdout, train)
        out["holdout_fraction_below_threshold"] = float((h_dist < threshold).mean())
        out["holdout_to_train_median"] = float(np.median(h_dist))
        out["n_holdout"] = int(holdout.shape[0])
    return out
