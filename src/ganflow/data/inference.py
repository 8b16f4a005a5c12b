"""Fitting a user's own images to a trained model, and back: the geometry of `ganflow translate`.

A model works at one size S x S (its training size) and one channel count.  A user's image has
any size and any channels, so:

  channels  converted to the model's (RGB -> gray by PIL's luminance rule, gray -> RGB by copying);
            the output has the model's channels.
  resize    (default) the image is padded to a square by mirroring its edges, resized to S x S
            (bicubic), translated, resized back and cropped: the output has the input's size
            and nothing is stretched.  Detail finer than the model's size is lost.
  tile      for images larger than S: overlapping S x S tiles (stride 3/4 S; the last row and
            column are aligned to the border), each translated at full resolution and blended
            with a tent-shaped weight so no seams show.  An image smaller than S in a direction
            is mirror-padded up to S first.  Only for fully convolutional translators whose
            output at a pixel depends on its neighbourhood (pix2pix, CycleGAN); a model that
            needs the whole picture (inpainting a face) must use resize.

Inpainting: :func:`find_white_box` finds the white mouth box a user painted (the homework's
input format: a filled rectangle of pure white), so the same box can be filled by the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from ganflow.data.images import resize

Box = tuple[int, int, int, int]  # top, left, bottom, right (pixels, bottom/right exclusive)
Batch = Callable[[np.ndarray], np.ndarray]  # N x S x S [x C] in [0,1] -> same shape


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """H x W (gray) or H x W x 3 -> the model's channel count (1: H x W, 3: H x W x 3)."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[2] == 4:  # drop alpha
        img = img[..., :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if channels == 1 and img.ndim == 3:
        # ITU-R 601-2 luma, the weights PIL's convert("L") uses, so a photo reads as the data did.
        return (img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114).astype(np.float32)
    if channels == 3 and img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if channels not in (1, 3):
        raise ValueError(f"models take 1 or 3 channels, not {channels}")
    return img


def resize_to(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of a [0,1] float image to height x width (PIL on float32 data)."""
    if img.shape[:2] == (height, width):
        return img.astype(np.float32)
    if img.ndim == 3:
        return np.stack([resize_to(img[..., c], height, width) for c in range(img.shape[2])], axis=2)
    out = np.asarray(Image.fromarray(img.astype(np.float32), mode="F").resize((width, height), Image.BICUBIC))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Fit:
    """How an H x W image was padded to a side x side square before resizing to size."""
    height: int
    width: int
    side: int
    pad_top: int
    pad_left: int
    size: int

    @property
    def scale(self) -> float:
        return self.size / self.side

    def box_to_model(self, box: Box) -> Box:
        """A box of the user's image in model pixels, rounded outwards (covers every touched pixel)."""
        t, l, b, r = box
        s = self.scale
        top, left = int(np.floor((t + self.pad_top) * s)), int(np.floor((l + self.pad_left) * s))
        bottom, right = int(np.ceil((b + self.pad_top) * s)), int(np.ceil((r + self.pad_left) * s))
        return (max(0, top), max(0, left), min(self.size, max(bottom, top + 1)), min(self.size, max(right, left + 1)))


def _pad_mode(n: int, pad: int) -> str:
    return "reflect" if pad < n else "edge"  # numpy's reflect needs the pad smaller than the image


def fit_square(img: np.ndarray, size: int) -> tuple[np.ndarray, Fit]:
    """Mirror-pad to a square, then resize to size x size."""
    h, w = img.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    pads = [(top, side - h - top), (left, side - w - left)] + ([(0, 0)] if img.ndim == 3 else [])
    if side != h or side != w:
        mode = _pad_mode(min(h, w), max(side - h, side - w))
        img = np.pad(img, pads, mode=mode)
    return resize(img, size), Fit(h, w, side, top, left, size)


def unfit(out: np.ndarray, fit: Fit) -> np.ndarray:
    """The model's size x size output back to the user's H x W (resize, then crop the padding)."""
    big = resize_to(out, fit.side, fit.side)
    return big[fit.pad_top:fit.pad_top + fit.height, fit.pad_left:fit.pad_left + fit.width]


def translate_resized(images: list[np.ndarray], size: int, run: Batch) -> list[np.ndarray]:
    """Each image fitted to size x size, run as one batch, and brought back to its own size."""
    fitted = [fit_square(im, size) for im in images]
    outs = run(np.stack([f[0] for f in fitted]))
    return [unfit(o, fit) for o, (_, fit) in zip(outs, fitted)]


def _starts(n: int, size: int, stride: int) -> list[int]:
    if n <= size:
        return [0]
    starts = list(range(0, n - size, stride))
    return starts + [n - size]


def _tent(size: int) -> np.ndarray:
    """1 in the middle, falling linearly to a small positive value at the border (never 0, so a
    pixel covered by one tile only still gets its value)."""
    ramp = 1.0 - np.abs(np.arange(size) + 0.5 - size / 2) / (size / 2)
    return np.maximum(ramp, 1e-3).astype(np.float64)


def translate_tiled(image: np.ndarray, size: int, run: Batch, batch_size: int = 16) -> np.ndarray:
    """One image of any size through overlapping size x size tiles blended by a tent window."""
    h, w = image.shape[:2]
    ph, pw = max(0, size - h), max(0, size - w)
    work = image
    if ph or pw:  # smaller than a tile: mirror-pad up to one tile, crop the result afterwards
        pads = [(0, ph), (0, pw)] + ([(0, 0)] if image.ndim == 3 else [])
        work = np.pad(image, pads, mode=_pad_mode(min(h, w), max(ph, pw)))
    H, W = work.shape[:2]
    stride = max(1, (3 * size) // 4)
    corners = [(y, x) for y in _starts(H, size, stride) for x in _starts(W, size, stride)]
    weight = np.outer(_tent(size), _tent(size))
    if work.ndim == 3:
        weight = weight[..., None]
    acc = np.zeros(work.shape, dtype=np.float64)
    norm = np.zeros(work.shape[:2] + ((1,) if work.ndim == 3 else ()), dtype=np.float64)
    for i in range(0, len(corners), batch_size):
        chunk = corners[i:i + batch_size]
        outs = run(np.stack([work[y:y + size, x:x + size] for y, x in chunk]))
        for (y, x), o in zip(chunk, outs):
            acc[y:y + size, x:x + size] += weight * o
            norm[y:y + size, x:x + size] += weight
    return (acc / norm).astype(np.float32)[:h, :w]


def _trim(region: np.ndarray, min_fill: float = 0.9) -> tuple[int, int, int, int]:
    """Shrink a region's bounding box, one border line at a time (the emptiest first), until
    every border row and column is at least ``min_fill`` full: a white box that touches a bright
    blob keeps the box and sheds the blob."""
    t, l, (b, r) = 0, 0, region.shape
    while b > t and r > l:
        sub = region[t:b, l:r]
        lines = {"t": sub[0].mean(), "b": sub[-1].mean(), "l": sub[:, 0].mean(), "r": sub[:, -1].mean()}
        side = min(lines, key=lines.get)
        if lines[side] >= min_fill:
            break
        t, b, l, r = t + (side == "t"), b - (side == "b"), l + (side == "l"), r - (side == "r")
    return t, l, b, r


def _largest_rectangle(near: np.ndarray, min_area: float, max_area: float) -> Box | None:
    """The largest near-full rectangle (>= 90% of its pixels ``near``) among the regions of ``near``."""
    from scipy import ndimage

    # An opening with a 3 x 3 square keeps a rectangle whole but cuts the thin bridges that join
    # it to bright pixels next to it (a white collar, a highlight on the skin).
    near = ndimage.binary_opening(near, structure=np.ones((3, 3), bool))
    labels, _ = ndimage.label(near)
    best, best_area = None, 0
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        t, l, b, r = _trim(labels[sl] == k)
        box = (sl[0].start + t, sl[1].start + l, sl[0].start + b, sl[1].start + r)
        area = (box[2] - box[0]) * (box[3] - box[1])
        if not (min_area <= area <= max_area) or near[box[0]:box[2], box[1]:box[3]].mean() < 0.9:
            continue
        if area > best_area:
            best, best_area = box, area
    return best


def find_white_box(img: np.ndarray, fill: float = 1.0, tol: float = 0.06, min_fraction: float = 0.002,
                   max_fraction: float = 0.5) -> Box:
    """The painted box of an inpainting input: the largest near-rectangular region of ``fill``.

    Pixels equal to ``fill`` (and, in a second pass, within ``tol`` of it in every channel, for
    JPEG noise) are candidates; each connected region is trimmed to the rectangle whose border
    lines are >= 90% candidates (shedding bright pixels that touch the box); the largest such
    rectangle between ``min_fraction`` and ``max_fraction`` of the image is the box.  Its border
    then grows by up to 2 pixels while the next line is still >= 90% within 2 tol of ``fill``
    (JPEG blurs a box's edge).  Raises ValueError when there is no such rectangle.
    """
    gray = img if img.ndim == 2 else img.min(axis=2)
    h, w = gray.shape
    # Two passes, the larger rectangle wins: exact (a PNG keeps the painted value to the bit, and
    # bright skin next to the box cannot join it) and within tol (JPEG noise inside the box).
    found = [_largest_rectangle(np.abs(gray - fill) <= tolerance, max(16, min_fraction * h * w),
                                max_fraction * h * w) for tolerance in (0.5 / 255, tol)]
    found = [f for f in found if f is not None]
    best = max(found, key=lambda f: (f[2] - f[0]) * (f[3] - f[1])) if found else None
    if best is None:
        raise ValueError(f"no white box found (a filled rectangle of value {fill:g} covering between "
                         f"{min_fraction:.1%} and {max_fraction:.0%} of the image)")
    t, l, b, r = best
    loose = 2 * tol

    def nearly(line: np.ndarray) -> bool:
        """A line just outside the box that is still the box (JPEG softens the box's edge)."""
        return line.size > 0 and float((np.abs(line - fill) <= loose).mean()) >= 0.9

    for _ in range(2):
        if t > 0 and nearly(gray[t - 1, l:r]):
            t -= 1
        if b < h and nearly(gray[b, l:r]):
            b += 1
        if l > 0 and nearly(gray[t:b, l - 1]):
            l -= 1
        if r < w and nearly(gray[t:b, r]):
            r += 1
    return (int(t), int(l), int(b), int(r))
