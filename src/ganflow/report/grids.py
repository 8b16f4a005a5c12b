"""Image grids: many small images tiled into one PNG a person can take in at a glance."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ganflow.data.images import save_image


def tile(images: list[np.ndarray], ncols: int, pad: int = 2, pad_value: float = 0.5) -> np.ndarray:
    """Tile same-sized [0,1] images (H x W or H x W x 3) row by row into one array."""
    if not images:
        raise ValueError("tile: no images to tile")
    rgb = any(im.ndim == 3 for im in images)
    ims = [np.repeat(im[..., None], 3, axis=2) if (rgb and im.ndim == 2) else im for im in images]
    h, w = ims[0].shape[:2]
    ncols = max(1, min(ncols, len(ims)))
    nrows = -(-len(ims) // ncols)
    shape = (nrows * (h + pad) + pad, ncols * (w + pad) + pad) + ((3,) if rgb else ())
    out = np.full(shape, pad_value, dtype=np.float32)
    for k, im in enumerate(ims):
        r, c = divmod(k, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = im
    return out


def save_grid(path: Path | str, images: list[np.ndarray], ncols: int = 8, scale: int = 1) -> None:
    grid = tile(images, ncols)
    if scale > 1:  # nearest-neighbour upscaling keeps small images legible
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    save_image(path, grid)
