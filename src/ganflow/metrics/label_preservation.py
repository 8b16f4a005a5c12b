"""Label preservation of a translation: does the digit (the class) survive the change of style?

An independent classifier, which reads both domains, predicts a class for every translated test
image; the score is the fraction predicted as the class of the image it was translated from.
Two references put it in scale, scored by the same classifier on the same inputs' labels:

* ``input_as_is``: the untranslated inputs (how well the classifier reads the input domain; a
  translation that keeps every digit but reads worse in the new style scores below it);
* ``mean_target``: the target domain's mean image put in place of every translation: one class
  for all, so it scores that class's share of the labels (chance level, what no learning gives).

Pure: class predictions in, numbers out (the task runs the classifier).
"""
from __future__ import annotations

import numpy as np

from ganflow.metrics.bootstrap import mean_interval

METHOD = "percentile bootstrap over the test inputs"


def _check(predicted: np.ndarray, labels: np.ndarray, num_classes: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.ndim != 1 or predicted.shape != labels.shape:
        raise ValueError(f"{what}: predicted classes {predicted.shape} and labels {labels.shape} must be "
                         "two vectors of one length")
    if len(labels) == 0:
        raise ValueError(f"{what}: no images")
    for name, v in (("predicted classes", predicted), ("labels", labels)):
        if v.min() < 0 or v.max() >= num_classes:
            raise ValueError(f"{what}: {name} must lie in 0..{num_classes - 1}, got {v.min()}..{v.max()}")
    return predicted.astype(np.int64), labels.astype(np.int64)


def accuracy_record(predicted, labels, num_classes: int, *, seed: int, what: str = "accuracy") -> dict:
    """Fraction of ``predicted == labels``, its bootstrap interval and the per-class fractions."""
    predicted, labels = _check(predicted, labels, num_classes, what)
    hits = (predicted == labels).astype(np.float64)
    per_class = {str(k): (float(hits[labels == k].mean()) if (labels == k).any() else None)
                 for k in range(num_classes)}
    out = {"accuracy": float(hits.mean()), "n": int(len(hits)), "per_class": per_class}
    out["interval"] = mean_interval(hits, seed=seed, method=METHOD) if len(hits) >= 2 else None
    return out


def label_preservation(translated, inputs, mean_target: int, labels, num_classes: int, *, seed: int) -> dict:
    """One direction's record from the classifier's predicted classes.

    ``translated``: per test input, the class of its translation; ``inputs``: of the input itself;
    ``mean_target``: the single class of the target domain's mean image; ``labels``: the inputs'
    true classes.
    """
    rec = accuracy_record(translated, labels, num_classes, seed=seed, what="translations")
    labels = np.asarray(labels)
    rec["input_as_is"] = accuracy_record(inputs, labels, num_classes, seed=seed, what="untranslated inputs")
    mean = accuracy_record(np.full(len(labels), int(mean_target)), labels, num_classes, seed=seed,
                           what="target-domain mean image")
    rec["mean_target"] = {"accuracy": mean["accuracy"], "interval": mean["interval"], "class": int(mean_target)}
    rec["confusion_matrix"] = np.bincount(labels * num_classes + np.asarray(translated),
                                          minlength=num_classes ** 2).reshape(num_classes, num_classes).tolist()
    return rec
