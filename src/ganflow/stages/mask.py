"""mask: paint the mouth white, writing the homework layout plus each box and a grid to check by eye.

data/masked/<dataset>/
  Training/Real, Training/White     the training pairs (target, input)
  Test/Real, Test/White             the test pairs (Test/Real is the answer key)
  Validation/Real, Validation/White a val split, where the data set has one (CelebA, pix2pix sets)
  boxes.csv                         id, split, top, left, bottom, right, how the box was found
  mask_grid.png                     masked faces side by side with their originals

Streaming, on ``workers`` processes (default: the threads Snakemake gives the job, else every
core): a first pass finds the faces (method detector), a second writes Real/ and White/; each
worker reads its own images, and the output is the same, byte for byte, for any number of them.
"""
from __future__ import annotations

import functools
import json

import pandas as pd

from ganflow.atomic import atomic_dir
from ganflow.data import masking, parallel
from ganflow.data.images import load_image
from ganflow.errors import DataError, ParamsError
from ganflow.params import Params
from ganflow.report.grids import save_grid
from ganflow.stages import paths

SPLIT_FOLDER = {"train": "Training", "val": "Validation", "test": "Test"}
GRID_IMAGES = 16  # originals in mask_grid.png, each beside its masked copy


def run(params: Params, dataset: str, workers: int | None = None) -> None:
    if dataset not in params.mask:
        raise ParamsError(f"mask: no mask rule for dataset {dataset!r}: add mask.{dataset} to params.yaml")
    rule = params.mask[dataset]
    src = paths.pairs_dir(dataset)
    manifest = pd.read_csv(src / "manifest.csv")
    size = json.loads((src / "dataset.json").read_text())["image_size"]
    ids = list(manifest.id)
    files = [src / f for f in manifest.image]
    n_workers = parallel.worker_count(workers, len(ids))

    with parallel.Workers(n_workers) as pool:
        boxes, how = _boxes(rule, ids, files, size, src, pool, dataset)
        rows = []
        with atomic_dir(paths.masked_dir(dataset)) as tmp:
            jobs = []
            for r, source in zip(manifest.itertuples(), files):
                folder = tmp / SPLIT_FOLDER[r.split]
                jobs.append(masking.MaskJob(source, folder / "Real" / f"{r.id}.png", folder / "White" / f"{r.id}.png",
                                            boxes[r.id]))
                rows.append({"id": r.id, "split": r.split,
                             **dict(zip(("top", "left", "bottom", "right"), boxes[r.id])), "method": how[r.id]})
            for _ in pool.map(functools.partial(masking.write_pair, fill=rule.fill), jobs, desc=f"mask {dataset}"):
                pass
            pd.DataFrame(rows).to_csv(tmp / "boxes.csv", index=False)
            grid = []
            for job in jobs[:GRID_IMAGES]:  # read again here: the workers send nothing back
                img = load_image(job.source)
                grid += [img, masking.paint(img, job.box, rule.fill)]
            save_grid(tmp / "mask_grid.png", grid, ncols=8, scale=2)
    counts = pd.Series(how).value_counts().to_dict()
    print(f"mask: {dataset}: {len(rows)} images, boxes by {counts} -> {paths.masked_dir(dataset)}")


def _boxes(rule, ids: list[str], files: list, size: int, src, pool: parallel.Workers,
           dataset: str) -> tuple[dict, dict]:
    if rule.method == "fixed":
        if rule.fixed_box is None:
            raise ParamsError("mask: method 'fixed' needs mask.<dataset>.fixed_box = [top, left, bottom, right]")
        box = masking.fixed_box(rule.fixed_box, size)
        return {i: box for i in ids}, {i: "fixed" for i in ids}
    if rule.method == "landmarks":
        lm_file = src / "landmarks.csv"
        if not lm_file.exists():
            raise DataError(f"mask: method 'landmarks' needs {lm_file} (columns id, lx, ly, rx, ry in pixels)")
        lm = pd.read_csv(lm_file).set_index("id")
        missing = sorted(set(ids) - set(lm.index))
        if missing:
            raise DataError(f"mask: {lm_file} has no landmarks for {missing[:10]}")
        boxes = {i: masking.mouth_box_from_landmarks((lm.at[i, "lx"], lm.at[i, "ly"]),
                                                     (lm.at[i, "rx"], lm.at[i, "ry"]), size) for i in ids}
        return boxes, {i: "landmarks" for i in ids}
    # Two passes: the mean-face fallback needs every detection before the first box is known.
    faces = dict(zip(ids, pool.map(masking.detect_file, files, desc=f"mask {dataset}: faces"), strict=True))
    found = [f for f in faces.values() if f is not None]
    if not found:
        raise DataError("mask: the face detector found no face in any image; use method 'fixed' with a fixed_box")
    mean = masking.mean_face(found)
    boxes, how = {}, {}
    for i, face in faces.items():
        boxes[i] = masking.mouth_box_from_face(face or mean, rule.face_rows, rule.face_cols, size)
        how[i] = "detector" if face else "mean_face"
    return boxes, how
