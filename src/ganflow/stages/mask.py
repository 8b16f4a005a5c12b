"""mask: paint the mouth white, writing the homework layout plus each box and a grid to check by eye.

data/masked/<dataset>/
  Training/Real, Training/White     the training pairs (target, input)
  Test/Real, Test/White             the test pairs (Test/Real is the answer key)
  Validation/Real, Validation/White a val split, where the data set has one (CelebA, pix2pix sets)
  boxes.csv                         id, split, top, left, bottom, right, how the box was found
  mask_grid.png                     masked faces side by side with their originals
"""
from __future__ import annotations

import json

import pandas as pd

from ganflow.atomic import atomic_dir
from ganflow.data import masking
from ganflow.data.images import load_image, save_image
from ganflow.errors import DataError, ParamsError
from ganflow.params import Params
from ganflow.report.grids import save_grid
from ganflow.stages import paths

SPLIT_FOLDER = {"train": "Training", "val": "Validation", "test": "Test"}


def run(params: Params, dataset: str) -> None:
    if dataset not in params.mask:
        raise ParamsError(f"mask: no mask rule for dataset {dataset!r}: add mask.{dataset} to params.yaml")
    rule = params.mask[dataset]
    src = paths.pairs_dir(dataset)
    manifest = pd.read_csv(src / "manifest.csv")
    size = json.loads((src / "dataset.json").read_text())["image_size"]
    images = {r.id: load_image(src / r.image) for r in manifest.itertuples()}

    boxes, how = _boxes(rule, images, size, src)
    rows, grid = [], []
    with atomic_dir(paths.masked_dir(dataset)) as tmp:
        for r in manifest.itertuples():
            folder = tmp / SPLIT_FOLDER[r.split]
            white = masking.paint(images[r.id], boxes[r.id], rule.fill)
            save_image(folder / "Real" / f"{r.id}.png", images[r.id])
            save_image(folder / "White" / f"{r.id}.png", white)
            rows.append({"id": r.id, "split": r.split, **dict(zip(("top", "left", "bottom", "right"), boxes[r.id])),
                         "method": how[r.id]})
            if len(grid) < 32:
                grid += [images[r.id], white]
        pd.DataFrame(rows).to_csv(tmp / "boxes.csv", index=False)
        save_grid(tmp / "mask_grid.png", grid, ncols=8, scale=2)
    counts = pd.Series(how).value_counts().to_dict()
    print(f"mask: {dataset}: {len(rows)} images, boxes by {counts} -> {paths.masked_dir(dataset)}")


def _boxes(rule, images: dict, size: int, src) -> tuple[dict, dict]:
    if rule.method == "fixed":
        if rule.fixed_box is None:
            raise ParamsError("mask: method 'fixed' needs mask.<dataset>.fixed_box = [top, left, bottom, right]")
        box = masking.fixed_box(rule.fixed_box, size)
        return {i: box for i in images}, {i: "fixed" for i in images}
    if rule.method == "landmarks":
        lm_file = src / "landmarks.csv"
        if not lm_file.exists():
            raise DataError(f"mask: method 'landmarks' needs {lm_file} (columns id, lx, ly, rx, ry in pixels)")
        lm = pd.read_csv(lm_file).set_index("id")
        missing = sorted(set(images) - set(lm.index))
        if missing:
            raise DataError(f"mask: {lm_file} has no landmarks for {missing[:10]}")
        boxes = {i: masking.mouth_box_from_landmarks((lm.at[i, "lx"], lm.at[i, "ly"]),
                                                     (lm.at[i, "rx"], lm.at[i, "ry"]), size) for i in images}
        return boxes, {i: "landmarks" for i in images}
    faces = {i: masking.detect_face(img) for i, img in images.items()}
    found = [f for f in faces.values() if f is not None]
    if not found:
        raise DataError("mask: the face detector found no face in any image; use method 'fixed' with a fixed_box")
    mean = masking.mean_face(found)
    boxes, how = {}, {}
    for i, face in faces.items():
        boxes[i] = masking.mouth_box_from_face(face or mean, rule.face_rows, rule.face_cols, size)
        how[i] = "detector" if face else "mean_face"
    return boxes, how
