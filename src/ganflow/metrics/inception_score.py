"""Inception Score (Salimans et al. 2016) from class logits, as torch-fidelity computes it.

IS = exp(E_x KL(p(y|x) || p(y))), computed on ``splits`` consecutive chunks of the (shuffled)
set; the result is the mean and (population) std over chunks.  p(y|x) is the softmax of the
logits in float64; p(y) is the chunk's mean of p(y|x).

For the ImageNet Inception the logits are pool3 @ fc.weight^T *without* the bias: that is what
the original TF code (openai/improved-gan) read from the graph and what torch-fidelity calls
``logits_unbiased``, so our numbers compare with published ones.  Any classifier's logits work
the same way (the domain-classifier score); its IS lies between 1 and its number of classes.
"""
from __future__ import annotations

import numpy as np


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits: np.ndarray, splits: int = 10, shuffle: bool = True, seed: int = 2020) -> dict:
    """{'mean', 'std', 'splits', 'per_split', 'n'} from an (n, classes) logit matrix.

    Chunks are rows [i*n//splits, (i+1)*n//splits) after an optional permutation by
    ``np.random.RandomState(seed)`` (torch-fidelity's defaults: shuffle, seed 2020).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be (images, classes >= 2), got shape {logits.shape}")
    n = logits.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"Inception Score with {splits} splits needs at least {splits} images, got {n}")
    if not np.isfinite(logits).all():
        raise ValueError("logits contain NaN or inf values")
    if shuffle:
        logits = logits[np.random.RandomState(seed).permutation(n)]
    log_p = _log_softmax(logits)
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_chunk, log_p_chunk = p[lo:hi], log_p[lo:hi]
        log_q = np.log(p_chunk.mean(axis=0, keepdims=True))
        kl = (p_chunk * (log_p_chunk - log_q)).sum(axis=1).mean()
        scores.append(float(np.exp(kl)))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "splits": splits,
            "per_split": scores, "n": n, "shuffle_seed": seed if shuffle else None}
