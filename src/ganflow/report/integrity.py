"""Integrity checks by distance over the whole mouth box (report/fills.py's smoothed, normalised
distance), beside grading.py's exact checks:

  no_generator_fill      an image's box lies within ``fill_tol`` of a no-learning fill the grader
                         computed (``masked_tol`` for the masked input itself); integrity (score 0)
                         when at least ``fill_share`` of the images do, else review
  matches_answer_key     an image's box lies within ``key_tol`` of the answer key (one pixel
                         changed, noise, half resolution: still a copy); review
  near_identical_submissions   two submissions within ``twin_tol`` over all boxes; review

Every finding carries the distances it was decided on.
"""
from __future__ import annotations

import numpy as np

from ganflow.report import fills as F
from ganflow.report.submission import INTEGRITY, REVIEW, Finding

Box = tuple[int, int, int, int]


def _imgs(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def references(key: np.ndarray, masked: np.ndarray, boxes: list[Box], fills: dict[str, np.ndarray],
               train: np.ndarray) -> list[F.ImageReference]:
    """Each test image's smoothed fills and training boxes, made once for all submissions."""
    train = np.zeros((0,)) if train is None else train
    return [F.ImageReference(box, {n: f[k] for n, f in fills.items()}, train, F.scale(masked[k], key[k], box))
            for k, box in enumerate(boxes)]


def fill_findings(images: np.ndarray, ids: list[str], refs: list[F.ImageReference], checks,
                  skip: set[str] = frozenset()) -> list[Finding]:
    """The images whose box is one of the no-learning fills (those in ``skip`` were already flagged)."""
    hits = {}
    for k, image_id in enumerate(ids):
        if image_id in skip:
            continue
        d = refs[k].distances(images[k])
        tol = {name: checks.masked_tol if name == "masked_input" else checks.fill_tol for name in d}
        near = {name: round(v, 5) for name, v in d.items() if v <= tol[name]}
        if near:
            family = min(near, key=near.get)
            hits[image_id] = {"fill": family, "distance": near[family], "tolerance": tol[family], "all_within": near}
    if not hits:
        return []
    names = sorted(hits)
    share = (len(hits) + len(skip)) / len(ids)
    severity = INTEGRITY if share >= checks.fill_share else REVIEW
    kinds = sorted({v["fill"] for v in hits.values()})
    return [Finding("no_generator_fill", severity, f"columns {_imgs(names)}",
                    f"{len(names)} of {len(ids)} images have a mouth box within the tolerance of a fill made without "
                    f"a generator ({', '.join(kinds)}; distance: smoothed box RMSE as a fraction of the masked "
                    f"input's)" + ("" if severity == INTEGRITY else "; fewer than "
                                   f"{checks.fill_share:.0%} of the images, so flagged for review"),
                    {"images": hits})]


def key_findings(images: np.ndarray, key: np.ndarray, masked: np.ndarray, boxes: list[Box], ids: list[str],
                 checks) -> list[Finding]:
    """The images whose box is a near-copy of the answer key's."""
    near = {}
    for k, image_id in enumerate(ids):
        d = F.box_distance(images[k], key[k], boxes[k]) / F.scale(masked[k], key[k], boxes[k])
        if d <= checks.key_tol:
            near[image_id] = round(d, 5)
    if not near:
        return []
    names = sorted(near)
    return [Finding("matches_answer_key", REVIEW, f"columns {_imgs(names)}",
                    f"{len(names)} of {len(ids)} images are near-copies of the answer key (smoothed box distance "
                    f"<= {checks.key_tol:g} of the masked input's): has the key leaked?",
                    {"images": near, "tolerance": checks.key_tol})]


def box_signatures(arrays: dict[str, np.ndarray], key: np.ndarray, masked: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """One vector per submission whose Euclidean distances are the twin distance: the root mean
    square over images of the normalised smoothed box distance (smoothing is linear, so the
    smoothed difference is the difference of the smoothed boxes)."""
    n = len(boxes)
    weights = [1.0 / (F.scale(masked[k], key[k], b) * np.sqrt(n * (b[2] - b[0]) * (b[3] - b[1]))) for k, b in enumerate(boxes)]
    rows = []
    for images in arrays.values():
        parts = [F.smoothed(np.asarray(images[k], dtype=np.float64)[t:bt, l:r]).ravel() * w
                 for k, ((t, l, bt, r), w) in enumerate(zip(boxes, weights))]
        rows.append(np.concatenate(parts))
    return np.stack(rows) if rows else np.zeros((0, 0))


def near_twins(arrays: dict[str, np.ndarray], key: np.ndarray, masked: np.ndarray, boxes: list[Box],
               tol: float) -> list[tuple[str, str, float]]:
    """Every pair of submissions within ``tol`` of each other, with its distance (a Gram matrix: 200
    submissions cost one 200 x 200 product)."""
    names = list(arrays)
    if len(names) < 2:
        return []
    v = box_signatures(arrays, key, masked, boxes)
    sq = (v ** 2).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * v @ v.T, 0)
    i, j = np.nonzero(np.triu(d2 <= tol ** 2, k=1))
    # The product loses digits on near-equal rows; recompute each candidate pair directly.
    pairs = [(names[a], names[b], float(np.linalg.norm(v[a] - v[b]))) for a, b in zip(i, j)]
    return [p for p in pairs if p[2] <= tol]
