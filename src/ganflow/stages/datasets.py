"""Which prepared folder an experiment trains and tests on, as tensors (the stages' data glue)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from ganflow.data.masking import box_mask
from ganflow.data.tensors import load_paired_folders
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.stages import paths

SPLIT_FOLDER = {"train": "Training", "test": "Test"}


def inpaint_split(dataset: str, split: str) -> tuple[list[str], dict[str, torch.Tensor]]:
    """(ids, {"A": White, "B": Real, "mask": 1 inside the mouth box}) of one split."""
    root = paths.masked_dir(dataset)
    folder = root / SPLIT_FOLDER[split]
    ids, a, b = load_paired_folders(folder / "White", folder / "Real")
    boxes = pd.read_csv(root / "boxes.csv").set_index("id")
    size = a.shape[-1]
    mask = torch.stack([torch.from_numpy(box_mask(tuple(boxes.loc[i, ["top", "left", "bottom", "right"]]), size))
                        for i in ids]).unsqueeze(1).float()
    return ids, {"A": a, "B": b, "mask": mask}


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    e = params.experiment(exp)
    if e.task != "inpaint":
        raise SystemExit(f"experiment {exp!r}: task {e.task!r} is not supported by this version")
    _, tensors = inpaint_split(e.dataset, "train")
    meta = json.loads((paths.pairs_dir(e.dataset) / "dataset.json").read_text())
    info = DataInfo(channels=tensors["A"].shape[1], image_size=meta["image_size"])
    return paths.masked_dir(e.dataset), tensors, info
