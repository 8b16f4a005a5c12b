"""No-learning fills of the mouth box and the distance that tells a submission is one of them.

The grader computes, for each test image, what a student could hand in without training a
generator: the masked input itself, the mean of the box border, a least-squares plane through the
border, per-column and per-row linear ramps between opposite borders, scikit-image's biharmonic
inpainting, the mean training face, and the box of every training face (nearest-neighbour
retrieval, whatever the retrieval rule).  ``stages/answer_key.py`` writes them to ``fills.npz``.

Distance: the RMSE over the box of a Gaussian-smoothed difference (sigma ``SIGMA`` pixels),
divided by the box's RMSE between the masked input and the truth (how far "white" is from the
real mouth, so the number is a fraction of the task, comparable across data sets and boxes).
Smoothing first makes the distance blind to what adds no structure: noise of any small amplitude,
a checkerboard, a half-resolution copy.  A generator's box differs from each fill by structure
(a mouth's shape), which survives the smoothing.  The same distance to the answer key finds
near-copies of the key, and between two submissions finds twins.

Two families are fitted to the submission's own box instead of computed: a constant (any grey) and
a plane (any tilt); their distance is the smoothed box's residual after the least-squares fit.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

Box = tuple[int, int, int, int]   # top, left, bottom, right (bottom/right exclusive)
SIGMA = 1.5
FITTED = ("any_constant", "any_plane")


def _region(image: np.ndarray, box: Box) -> np.ndarray:
    t, l, b, r = box
    return np.asarray(image, dtype=np.float64)[t:b, l:r]


def smoothed(region: np.ndarray) -> np.ndarray:
    """The box region low-passed (per channel for RGB): what a distance between boxes compares."""
    sigma = (SIGMA, SIGMA, 0) if region.ndim == 3 else SIGMA
    return gaussian_filter(np.asarray(region, dtype=np.float64), sigma, mode="nearest")


def scale(masked: np.ndarray, truth: np.ndarray, box: Box) -> float:
    """The box RMSE of the masked input against the truth: distances are fractions of it."""
    return float(np.sqrt(np.mean((_region(masked, box) - _region(truth, box)) ** 2))) or 1.0


def box_distance(a: np.ndarray, b: np.ndarray, box: Box) -> float:
    """RMSE over the box of the smoothed difference a - b (unnormalised)."""
    return float(np.sqrt(np.mean(smoothed(_region(a, box) - _region(b, box)) ** 2)))


def _design(h: int, w: int, degree: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    cols = [np.ones(h * w)] + ([y.ravel() / max(h, 1), x.ravel() / max(w, 1)] if degree else [])
    return np.stack(cols, axis=1)


def fitted_distance(image: np.ndarray, box: Box, degree: int) -> float:
    """RMSE of the box's smoothed residual after removing its least-squares constant (0) or plane (1).

    Fitted first, smoothed after: the residual of an exact plane is exactly zero (smoothing a
    plane first would bend it at the box edges)."""
    region = _region(image, box)
    flat = region.reshape(region.shape[0] * region.shape[1], -1)
    a = _design(region.shape[0], region.shape[1], degree)
    coef, *_ = np.linalg.lstsq(a, flat, rcond=None)
    residual = (flat - a @ coef).reshape(region.shape)
    return float(np.sqrt(np.mean(smoothed(residual) ** 2)))


# ------------------------------------------------------------------------------ the fills

def _ring(image: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixels just outside the box (rows, columns, values): what a border fill can use."""
    t, l, b, r = box
    h, w = image.shape[:2]
    ys, xs = [], []
    for x in range(max(l - 1, 0), min(r + 1, w)):
        ys += [y for y in (t - 1, b) if 0 <= y < h]
        xs += [x for y in (t - 1, b) if 0 <= y < h]
    for y in range(t, b):
        ys += [y for x in (l - 1, r) if 0 <= x < w]
        xs += [x for x in (l - 1, r) if 0 <= x < w]
    ys, xs = np.array(ys), np.array(xs)
    return ys, xs, np.asarray(image, dtype=np.float64)[ys, xs]


def _paste(image: np.ndarray, box: Box, region: np.ndarray) -> np.ndarray:
    t, l, b, r = box
    out = np.array(image, dtype=np.float64)
    out[t:b, l:r] = np.clip(region, 0, 1)
    return out


def border_fills(image: np.ndarray, box: Box) -> dict[str, np.ndarray]:
    """Fills from the box border of one masked image: its mean, a plane, column and row ramps, biharmonic."""
    from skimage.restoration import inpaint_biharmonic

    t, l, b, r = box
    h, w = image.shape[:2]
    img = np.asarray(image, dtype=np.float64)
    ys, xs, vals = _ring(img, box)
    out = {"border_mean": _paste(img, box, np.full(img[t:b, l:r].shape, vals.mean(axis=0)))}
    a = np.stack([np.ones(len(ys)), ys, xs], axis=1)
    coef, *_ = np.linalg.lstsq(a, vals.reshape(len(ys), -1), rcond=None)
    yy, xx = np.mgrid[t:b, l:r]
    plane = np.stack([np.ones(yy.size), yy.ravel(), xx.ravel()], axis=1) @ coef
    out["border_plane"] = _paste(img, box, plane.reshape(img[t:b, l:r].shape))
    above, below = img[max(t - 1, 0)], img[min(b, h - 1)]
    f = ((np.arange(t, b) - (t - 1)) / (b - t + 1))[:, None]
    if img.ndim == 3:
        f = f[..., None]
    out["column_ramps"] = _paste(img, box, (1 - f) * above[None, l:r] + f * below[None, l:r])
    left, right = img[:, max(l - 1, 0)], img[:, min(r, w - 1)]
    g = ((np.arange(l, r) - (l - 1)) / (r - l + 1))[None, :]
    if img.ndim == 3:
        g = g[..., None]
    out["row_ramps"] = _paste(img, box, (1 - g) * left[t:b, None] + g * right[t:b, None])
    mask = np.zeros((h, w), dtype=bool)
    mask[t:b, l:r] = True
    out["biharmonic"] = np.clip(inpaint_biharmonic(img, mask, channel_axis=-1 if img.ndim == 3 else None), 0, 1)
    return out


def reference_fills(masked: np.ndarray, boxes: list[Box], train_real: np.ndarray) -> dict[str, np.ndarray]:
    """Every computed no-learning fill of every test image: name -> (n, H, W[, C]).

    ``nearest_face`` is the training face closest to the masked input outside the box, its box
    pasted in; the grader also compares with every training box (``training_boxes``), so another
    retrieval rule finds nothing new.
    """
    n = len(masked)
    fills: dict[str, list[np.ndarray]] = {"masked_input": list(np.asarray(masked, dtype=np.float64))}
    mean_face = np.mean(train_real, axis=0)
    for k in range(n):
        for name, img in border_fills(masked[k], boxes[k]).items():
            fills.setdefault(name, []).append(img)
        t, l, b, r = boxes[k]
        fills.setdefault("mean_face", []).append(_paste(masked[k], boxes[k], mean_face[t:b, l:r]))
        outside = np.ones(masked[k].shape[:2], dtype=bool)
        outside[t:b, l:r] = False
        d = [np.mean((tr[outside] - masked[k][outside]) ** 2) for tr in train_real]
        fills.setdefault("nearest_face", []).append(_paste(masked[k], boxes[k], train_real[int(np.argmin(d))][t:b, l:r]))
    return {name: np.stack(v).astype(np.float32) for name, v in fills.items()}


class ImageReference:
    """One test image's fills and training boxes, smoothed once: smoothing is linear, so the smoothed
    difference to a submission is the difference of the smoothed boxes, and each submission costs
    one smoothing per image however many fills and training faces there are."""

    def __init__(self, box: Box, fills_k: dict[str, np.ndarray], train: np.ndarray, scale_k: float):
        self.box, self.scale = box, scale_k
        self.fills = {name: smoothed(_region(f, box)) for name, f in fills_k.items()}
        self.train = np.stack([smoothed(_region(t, box)) for t in train]) if len(train) else None

    def distances(self, image: np.ndarray) -> dict[str, float]:
        s = smoothed(_region(image, self.box))
        d = {name: float(np.sqrt(np.mean((s - f) ** 2))) / self.scale for name, f in self.fills.items()}
        d["any_constant"] = fitted_distance(image, self.box, 0) / self.scale
        d["any_plane"] = fitted_distance(image, self.box, 1) / self.scale
        if self.train is not None:
            err = np.sqrt(np.mean((self.train - s) ** 2, axis=tuple(range(1, self.train.ndim))))
            d["training_boxes"] = float(err.min()) / self.scale
        return d


def fill_distances(image: np.ndarray, box: Box, fills_k: dict[str, np.ndarray], train: np.ndarray,
                   scale_k: float) -> dict[str, float]:
    """Normalised distance of one submitted image's box to each fill (computed and fitted), and to
    the nearest of the training faces' boxes."""
    return ImageReference(box, fills_k, train, scale_k).distances(image)
