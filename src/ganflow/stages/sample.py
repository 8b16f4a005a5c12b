"""sample: the generator on every test input -> results/<exp>/samples/ (what the task writes).

Every task writes samples/outputs.npz (float32 arrays, ids first) beside viewable PNGs: metrics
read the arrays, not the 8-bit PNGs, so rounding never moves a number.  For inpainting,
samples/<id>.png has the generated mouth pasted into the known image, samples/raw/ the whole output.
"""
from __future__ import annotations

import torch

from ganflow.atomic import atomic_dir
from ganflow.params import Params
from ganflow.stages import paths
from ganflow.stages.tasks import task_for
from ganflow.stages.train import load_trained
from ganflow.train.device import configure_torch, pick_device


def run(params: Params, exp: str, threads: int | None = None) -> None:
    configure_torch(threads)
    task = task_for(params, exp)
    device = pick_device(params.sample.device)
    model, _ = load_trained(params, exp, device)
    torch.manual_seed(params.train[exp].seed if exp in params.train else 0)
    with atomic_dir(paths.samples_dir(exp)) as tmp:
        task.sample(params, exp, model, device, tmp)
    print(f"sample: {exp} -> {paths.samples_dir(exp)}")
