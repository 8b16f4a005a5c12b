"""Domain-classifier scores of generated images: IS, class histogram (mode coverage), accuracy.

The classifier (nn/classifier.py, trained by ``ganflow classifier``) plays the Inception's part on
a labelled data set.  From its logits on generated images:

* ``is_mean`` / ``is_std``: the Inception Score formula on its softmax (1 .. number of classes);
* ``class_histogram``: how many samples it assigns to each class, and ``n_missing_classes``,
  the classes never produced (mode dropping; one dominant class is mode collapse);
* ``accuracy``: for class-conditional models, the fraction of samples classified as the class
  they were asked for (does G obey the condition?), with ``accuracy_interval``: a percentile
  bootstrap over the samples (seeded by ``seed``, recorded).
"""
from __future__ import annotations

import numpy as np
import torch

from ganflow.metrics.bootstrap import mean_interval
from ganflow.metrics.inception_score import inception_score


def classifier_scores(classifier: torch.nn.Module, images, labels=None, splits: int = 10, seed: int = 2020,
                      batch_size: int = 256, device: str | torch.device = "cpu") -> dict:
    """Scores of ``images`` ([0,1], (N, H, W) or (N, C, H, W)); ``labels`` the requested classes, if any."""
    logits = classifier.predict_logits(images, batch_size=batch_size, device=device)
    return scores_from_logits(logits, labels=labels, splits=splits, seed=seed)


def scores_from_logits(logits: np.ndarray, labels=None, splits: int = 10, seed: int = 2020) -> dict:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must be (images, classes), got shape {logits.shape}")
    n, k = logits.shape
    iscore = inception_score(logits, splits=splits, seed=seed)
    predicted = logits.argmax(axis=1)
    histogram = np.bincount(predicted, minlength=k)
    out = {
        "is_mean": iscore["mean"], "is_std": iscore["std"], "is_splits": splits, "is_max": k,
        "class_histogram": histogram.tolist(), "n_missing_classes": int((histogram == 0).sum()),
        "missing_classes": np.flatnonzero(histogram == 0).tolist(),
        "largest_class_fraction": float(histogram.max() / n), "n": n,
    }
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must be one per image ({n}), got shape {labels.shape}")
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"labels must lie in 0..{k - 1}, got {labels.min()}..{labels.max()}")
        hits = (predicted == labels).astype(np.float64)
        out["accuracy"] = float(hits.mean())
        if n >= 2:
            out["accuracy_interval"] = mean_interval(hits, seed=seed,
                                                     method="percentile bootstrap over the generated samples")
    return out
