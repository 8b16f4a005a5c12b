"""sample: the generator on every test input -> results/<exp>/samples/.

samples/<id>.png        what is evaluated: for inpainting, the generated mouth pasted into the
                        known image (pixels outside the box are the input's own)
samples/raw/<id>.png    the generator's whole output, unedited
samples/outputs.npz     the same as float32 arrays (ids, final, raw): metrics read these, not
                        the 8-bit PNGs, so rounding never moves a number
"""
from __future__ import annotations

import numpy as np
import torch

from ganflow.atomic import atomic_dir
from ganflow.data.images import save_image
from ganflow.data.tensors import to_images
from ganflow.params import Params
from ganflow.stages import paths
from ganflow.stages.datasets import inpaint_split
from ganflow.stages.train import load_trained
from ganflow.train.device import pick_device


def run(params: Params, exp: str, threads: int | None = None) -> None:
    if threads:
        torch.set_num_threads(threads)
    e = params.experiment(exp)
    if e.task != "inpaint":
        raise SystemExit(f"sample: task {e.task!r} is not supported by this version")
    device = pick_device(params.sample.device)
    model, _ = load_trained(params, exp, device)
    ids, t = inpaint_split(e.dataset, "test")
    bs = params.sample.batch_size
    raw = torch.cat([model.generate({k: v[i:i + bs].to(device) for k, v in t.items()}).cpu()
                     for i in range(0, len(ids), bs)])
    final = raw * t["mask"] + t["A"] * (1 - t["mask"]) if params.sample.paste else raw
    raw_imgs, final_imgs = to_images(raw), to_images(final)
    with atomic_dir(paths.samples_dir(exp)) as tmp:
        for i, image_id in enumerate(ids):
            save_image(tmp / f"{image_id}.png", final_imgs[i])
            save_image(tmp / "raw" / f"{image_id}.png", raw_imgs[i])
        np.savez_compressed(tmp / "outputs.npz", ids=np.array(ids), final=np.stack(final_imgs),
                            raw=np.stack(raw_imgs), pasted=np.array(params.sample.paste))
    print(f"sample: {exp}: {len(ids)} test images -> {paths.samples_dir(exp)}")
