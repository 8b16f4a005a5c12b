"""plot: results/<exp>/plots/ -- loss curves, training snapshots over time, test samples."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ganflow.atomic import atomic_dir
from ganflow.data.images import list_images, load_image
from ganflow.params import Params
from ganflow.report.grids import save_grid
from ganflow.report.plots import loss_curves
from ganflow.stages import paths

N_SHOWN = 16


def run(params: Params, exp: str) -> None:
    e = params.experiment(exp)
    losses = pd.read_csv(paths.losses_csv(exp))
    if losses.empty:
        raise SystemExit(f"plot: {paths.losses_csv(exp)} has no rows")
    with atomic_dir(paths.plots_dir(exp)) as tmp:
        loss_curves(losses, exp, tmp / "losses.png")
        loss_curves(losses, exp, tmp / "losses_wall_time.png", x="wall_time")
        # Training over time: the fixed-input snapshots, one per row, oldest first.
        snaps = list_images(paths.model_dir(exp) / "snapshots")
        if snaps:
            save_grid(tmp / "snapshots.png", [load_image(p) for p in snaps], ncols=1)
        # Test samples: input / output / truth columns for inpainting.
        out = np.load(paths.samples_dir(exp) / "outputs.npz")
        ids = [str(i) for i in out["ids"]][:N_SHOWN]
        if e.task == "inpaint":
            test = paths.masked_dir(e.dataset) / "Test"
            rows = []
            for k, i in enumerate(ids):
                rows += [load_image(test / "White" / f"{i}.png"), out["final"][k], load_image(test / "Real" / f"{i}.png")]
            save_grid(tmp / "test_samples.png", rows, ncols=6, scale=2)
    print(f"plot: {exp} -> {paths.plots_dir(exp)}")
