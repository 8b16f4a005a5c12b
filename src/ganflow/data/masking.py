"""Mouth masking: find the mouth box of a face image and paint it white (the homework's input).

Boxes are (top, left, bottom, right) in pixels, bottom/right exclusive.  The box comes from
landmarks when a data set has them, else from scikit-image's LBP frontal-face cascade with the
mouth placed relative to the face box, else from the mean face box of the faces that were found.

The two per-file steps at the end (:func:`detect_file`, :func:`write_pair`) are what the mask
stage's worker processes run: each reads its own image, so no process holds the whole set.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ganflow.data.images import load_image, resize, save_image

DETECT_SIZE = 128  # the face-relative mouth rule was measured on faces at this size
# scale 1.05 / min 48 px found 91 of the 100 lfw faces (1.1 / 48: 86; smaller minima add false hits)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceBox:
    """A face box as fractions of the image (top, left, height, width)."""
    top: float
    left: float
    height: float
    width: float


@lru_cache(maxsize=1)
def _cascade():
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


def detect_face(img: np.ndarray) -> FaceBox | None:
    """The largest frontal face found by the LBP cascade, or None."""
    gray = img if img.ndim == 2 else img.mean(axis=2)
    work = resize(gray, DETECT_SIZE)
    found = _cascade().detect_multi_scale(
        img=work, scale_factor=1.05, step_ratio=1, min_size=(48, 48), max_size=(DETECT_SIZE, DETECT_SIZE))
    if not found:
        return None
    best = max(found, key=lambda d: d["width"] * d["height"])
    s = float(DETECT_SIZE)
    return FaceBox(best["r"] / s, best["c"] / s, best["height"] / s, best["width"] / s)


def mean_face(faces: list[FaceBox]) -> FaceBox:
    return FaceBox(*(float(np.mean([getattr(f, k) for f in faces])) for k in ("top", "left", "height", "width")))


def mouth_box_from_face(face: FaceBox, rows: tuple[float, float], cols: tuple[float, float], size: int) -> Box:
    """Mouth box in pixels of a size x size image: rows/cols are fractions of the face box."""
    top = face.top + rows[0] * face.height
    bottom = face.top + rows[1] * face.height
    left = face.left + cols[0] * face.width
    right = face.left + cols[1] * face.width
    return clip_box((round(top * size), round(left * size), round(bottom * size), round(right * size)), size)


def mouth_box_from_landmarks(left_corner: tuple[float, float], right_corner: tuple[float, float],
                             size: int, pad: float = 0.35) -> Box:
    """Box around the two mouth corners (x, y in pixels of a size x size image).

    The mouth's height is about 0.6 of its width; ``pad`` widens the box by that fraction of the
    corner distance on each side so lips and chin shadow are covered.
    """
    (x1, y1), (x2, y2) = left_corner, right_corner
    w = abs(x2 - x1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w = w / 2 + pad * w
    half_h = 0.3 * w + pad * w
    return clip_box((round(cy - half_h), round(cx - half_w), round(cy + half_h), round(cx + half_w)), size)


def fixed_box(fractions: tuple[float, float, float, float], size: int) -> Box:
    t, l, b, r = fractions
    return clip_box((round(t * size), round(l * size), round(b * size), round(r * size)), size)


def clip_box(box: Box, size: int) -> Box:
    t, l, b, r = box
    t, l = max(0, min(t, size - 1)), max(0, min(l, size - 1))
    b, r = max(t + 1, min(b, size)), max(l + 1, min(r, size))
    return (int(t), int(l), int(b), int(r))


def box_mask(box: Box, size: int) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    t, l, b, r = box
    m[t:b, l:r] = True
    return m


def paint(img: np.ndarray, box: Box, fill: float = 1.0) -> np.ndarray:
    """A copy of img with the box painted ``fill`` (1.0 = white, as in the homework)."""
    out = img.copy()
    t, l, b, r = box
    out[t:b, l:r] = fill
    return out


def detect_file(path: Path) -> FaceBox | None:
    """:func:`detect_face` on an image file (a worker's first pass)."""
    return detect_face(load_image(path))


@dataclass(frozen=True)
class MaskJob:
    """One image to mask: read ``source``, write it to ``real`` and painted to ``white``."""
    source: Path
    real: Path
    white: Path
    box: Box


def write_pair(job: MaskJob, fill: float) -> None:
    """Write the real image and its painted copy (a worker's second pass)."""
    img = load_image(job.source)
    save_image(job.real, img)
    save_image(job.white, paint(img, job.box, fill))
