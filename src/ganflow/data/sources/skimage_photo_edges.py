"""Photos <-> edge sketches: an offline unpaired set for CycleGAN, cut from packaged photographs.

    datasets:
      photo_edges:
        source: skimage_photo_edges
        image_size: 32
        options: {crops_per_cell: 8}

fetch stores the colour photographs that ship with scikit-image (astronaut, coffee, chelsea,
rocket, motorcycle, retina, immunohistochemistry, hubble_deep_field) and scikit-learn (china,
flower) as PNGs.  The table then, for each photo:

1. rescales it so that its short side is ``short_side`` px and cuts it into a grid of
   ``cell`` x ``cell`` cells (the remainder at the right and bottom is left out);
2. splits the *cells* train/test by the seeded rule of data/split.py, so that no pixel of a
   test crop lies in any training crop;
3. cuts ``crops_per_cell`` random square crops inside each cell (side between half the cell
   and the whole cell), rescaled to ``cell`` px, and leaves out flat ones (grey-level std below
   ``min_std``: black sky, the dark rim of the retina);
4. draws each crop's edge sketch: 1 - clip(|Sobel(Gaussian(grey, edge_sigma))| / edge_scale, 0, 1),
   dark lines on white, stored as RGB with three equal channels.

Domain A is the photos, domain B the sketches.  Training crops are shuffled (seeded) and
halved: one half gives only its photo to A, the other only its sketch to B, so training sees
no pair at all.  Test crops give both, with ids ``<crop>_A`` and ``<crop>_B``: the truth pairs,
against which the unpaired task reports RMSE in each direction.

``skimage_sketch_photos`` is the same crops as a *paired* set, pix2pix's edges -> photo task
offline: every crop, train and test, is one (sketch, photo) pair.  ``direction: AtoB`` (the
default) makes the sketch the input, ``BtoA`` the photo.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, PositiveInt

from ganflow.data import layouts
from ganflow.data.images import list_images, load_image, save_image
from ganflow.data.sources import CommonOptions, Source, SplitSpec, register_source
from ganflow.data.split import seeded_split, split_rule
from ganflow.errors import MissingInputError, ParamsError

# name -> loader; every one ships inside the installed package (no pooch download).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "retina", "immunohistochemistry",
          "hubble_deep_field", "china", "flower")


class PhotoEdgesOptions(CommonOptions):
    photos: list[str] = list(PHOTOS)
    short_side: PositiveInt = 288        # photos are rescaled to this short side first
    cell: PositiveInt = 96               # split unit (and crop working size), px
    crops_per_cell: PositiveInt = 8
    min_std: float = Field(0.03, ge=0)   # leave out crops flatter than this (grey-level std)
    edge_sigma: float = Field(1.0, gt=0)  # Gaussian blur before Sobel, px at the working size
    edge_scale: float = Field(0.2, gt=0)  # Sobel magnitude that draws a fully black line
    crop_seed: int = 0


def _load_photo(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    from skimage import data

    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def _fetch(options: PhotoEdgesOptions, raw_dir: Path, downloads: Path | None = None) -> None:
    unknown = [p for p in options.photos if p not in PHOTOS]
    if unknown:
        raise ParamsError(f"fetch: unknown photo(s) {unknown} in options.photos; known: {list(PHOTOS)}")
    for name in options.photos:
        save_image(raw_dir / "images" / f"{name}.png", _load_photo(name))


def resize_to(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bicubic resize of a [0, 1] float image (PIL per channel on float32: antialiased when shrinking)."""
    if img.ndim == 3:
        return np.stack([resize_to(img[..., c], h, w) for c in range(img.shape[2])], axis=2)
    out = Image.fromarray(img.astype(np.float32), mode="F").resize((w, h), Image.BICUBIC)
    return np.clip(np.asarray(out), 0.0, 1.0).astype(np.float32)


def rescale(img: np.ndarray, short_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    k = short_side / min(h, w)
    return resize_to(img, round(h * k), round(w * k))


def edge_sketch(rgb: np.ndarray, sigma: float, scale: float) -> np.ndarray:
    """Dark-on-white edge drawing of an RGB image in [0, 1]: 1 - clip(|Sobel(blur(grey))| / scale)."""
    from skimage.color import rgb2gray
    from skimage.filters import gaussian, sobel

    magnitude = sobel(gaussian(rgb2gray(rgb), sigma=sigma))
    return (1.0 - np.clip(magnitude / scale, 0.0, 1.0)).astype(np.float32)


def cells_of(photo: str, img: np.ndarray, cell: int) -> list[tuple[str, int, int, np.ndarray]]:
    """(id, row, column, pixels) of every whole cell of the grid."""
    h, w = img.shape[:2]
    return [(f"{photo}_r{r}c{c}", r, c, img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell])
            for r in range(h // cell) for c in range(w // cell)]


def crops_of(cell_img: np.ndarray, n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n random square crops inside the cell (side in [cell/2, cell]), each rescaled to size."""
    side_max = cell_img.shape[0]
    out = []
    for _ in range(n):
        side = int(rng.integers(side_max // 2, side_max + 1))
        top, left = (int(rng.integers(0, side_max - side + 1)) for _ in range(2))
        crop = cell_img[top:top + side, left:left + side]
        out.append(resize_to(crop, size, size))
    return out


class SketchPhotoOptions(PhotoEdgesOptions):
    direction: Literal["AtoB", "BtoA"] = "AtoB"  # AtoB: sketch -> photo (edges2photos); BtoA: photo -> sketch


def _crops(options: PhotoEdgesOptions, raw_dir: Path, split: SplitSpec) -> tuple[dict, dict, int]:
    """({"train": [(crop id, pixels)], "test": [...]}, {cell id: split}, crops left out as flat)."""
    folder = Path(raw_dir) / "images"
    files = {p.stem: p for p in list_images(folder)} if folder.is_dir() else {}
    missing = [p for p in options.photos if p not in files]
    if missing:
        raise MissingInputError(f"pair: {folder} lacks {missing}; run `ganflow fetch` for this data set first")
    cells = []
    for k, photo in enumerate(options.photos):
        img = load_image(files[photo], channels=3)
        cells += [(k, *cell) for cell in cells_of(photo, rescale(img, options.short_side), options.cell)]
    cell_split = seeded_split([cell[1] for cell in cells], split.test_fraction, split.seed)

    crops: dict[str, list[tuple[str, np.ndarray]]] = {"train": [], "test": []}
    n_flat = 0
    for k, cid, r, c, cell_img in cells:
        rng = np.random.default_rng([options.crop_seed, k, r, c])
        for j, crop in enumerate(crops_of(cell_img, options.crops_per_cell, options.cell, rng)):
            if crop.mean(axis=2).std() < options.min_std:
                n_flat += 1
                continue
            crops[cell_split[cid]].append((f"{cid}_k{j}", crop))
    return crops, cell_split, n_flat


def _crop_record(options: PhotoEdgesOptions, split: SplitSpec, cell_split: dict, n_flat: int) -> dict:
    return {
        "photos": list(options.photos),
        "crops": {"short_side": options.short_side, "cell": options.cell, "per_cell": options.crops_per_cell,
                  "side": "uniform integer in [cell/2, cell] source px, inside the cell", "seed": options.crop_seed,
                  "left_out_flat": n_flat, "min_std": options.min_std},
        "edges": {"rule": "1 - clip(|sobel(gaussian(rgb2gray(crop), edge_sigma))| / edge_scale, 0, 1) "
                          "at the cell size, before the resize to image_size",
                  "edge_sigma": options.edge_sigma, "edge_scale": options.edge_scale},
        "grid_cells": {"train": sum(v == "train" for v in cell_split.values()),
                       "test": sum(v == "test" for v in cell_split.values())},
    }


def _cell_rule(split: SplitSpec) -> str:
    return split_rule(split.test_fraction, split.seed).replace("ids", "cell ids") + "; crops inherit their cell's split"


def _table(options: PhotoEdgesOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    crops, cell_split, n_flat = _crops(options, raw_dir, split)

    def row(crop_id: str, crop: np.ndarray, split_name: str, domain: str) -> layouts.Row:
        img = crop if domain == "A" else edge_sketch(crop, options.edge_sigma, options.edge_scale)
        return layouts.Row(f"{crop_id}_{domain}", split_name,
                           {"image": layouts.Img(f"{crop_id} ({'photo' if domain == 'A' else 'sketch'})", array=img)},
                           {"domain": domain})

    # Training: a seeded half gives its photo, the other half its sketch: never both.
    train = crops["train"]
    order = np.random.default_rng([options.crop_seed, split.seed]).permutation(len(train))
    half = len(train) // 2
    rows = [row(*train[i], "train", "A") for i in order[:half]]
    rows += [row(*train[i], "train", "B") for i in order[half:2 * half]]
    for crop_id, crop in crops["test"]:
        rows += [row(crop_id, crop, "test", "A"), row(crop_id, crop, "test", "B")]

    extra = {
        "domains": {"A": "colour photo crops", "B": "edge sketches of the photo crops"},
        "truth_pairs": {"split": "test", "id_suffix": {"A": "_A", "B": "_B"},
                        "rule": "<crop>_A and <crop>_B are the two views of one crop"},
        "unpaired_rule": "training crops: a seeded half in A only, the other half in B only",
        **_crop_record(options, split, cell_split, n_flat),
    }
    return layouts.Table("unpaired", rows, Path(raw_dir), _cell_rule(split), channels=3, extra=extra)


def _paired_table(options: SketchPhotoOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    crops, cell_split, n_flat = _crops(options, raw_dir, split)
    rows = []
    for split_name in ("train", "test"):
        for crop_id, crop in crops[split_name]:
            photo = layouts.Img(f"{crop_id} (photo)", array=crop)
            sketch = layouts.Img(f"{crop_id} (sketch)",
                                 array=np.repeat(edge_sketch(crop, options.edge_sigma, options.edge_scale)[..., None], 3, 2))
            a, b = (sketch, photo) if options.direction == "AtoB" else (photo, sketch)
            rows.append(layouts.Row(crop_id, split_name, {"a": a, "b": b}))
    extra = {"direction": options.direction,
             "domains": {"a": "edge sketch" if options.direction == "AtoB" else "colour photo crop",
                         "b": "colour photo crop" if options.direction == "AtoB" else "edge sketch"},
             **_crop_record(options, split, cell_split, n_flat)}
    return layouts.Table("paired", rows, Path(raw_dir), _cell_rule(split), channels=3, extra=extra)


register_source(Source(
    name="skimage_photo_edges",
    description="colour photo crops (A) and their edge sketches (B) from the scikit-image and "
                "scikit-learn sample photographs; unpaired for training, truth pairs for testing",
    offline=True,
    size="10 photographs, ~3 MB as PNG",
    licence="scikit-image / scikit-learn sample data (public domain or CC BY; see each package's data README)",
    fetch=_fetch,
    layout="unpaired",
    options=PhotoEdgesOptions,
    table=_table,
))


register_source(Source(
    name="skimage_sketch_photos",
    description="edge sketch -> colour photo pairs (pix2pix's edges2photos, offline) cut from the "
                "scikit-image and scikit-learn sample photographs; the same crops as skimage_photo_edges",
    offline=True,
    size="10 photographs, ~3 MB as PNG",
    licence="scikit-image / scikit-learn sample data (public domain or CC BY; see each package's data README)",
    fetch=_fetch,
    layout="paired",
    options=SketchPhotoOptions,
    table=_paired_table,
))
