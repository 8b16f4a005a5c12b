"""plot: results/<exp>/plots/ -- loss curves, training snapshots over time, test samples."""
from __future__ import annotations

import pandas as pd

from ganflow.atomic import atomic_dir
from ganflow.data.images import list_images, load_image
from ganflow.errors import StatsError
from ganflow.params import Params
from ganflow.report.plots import loss_curves, progress_figure, snapshot_step
from ganflow.stages import paths
from ganflow.stages.tasks import task_for

DEFAULT_PROGRESS_PICTURE = ("snapshots.png", "the same fixed inputs through training")


def run(params: Params, exp: str) -> None:
    losses = pd.read_csv(paths.losses_csv(exp))
    if losses.empty:
        raise StatsError(f"plot: {paths.losses_csv(exp)} has no rows")
    with atomic_dir(paths.plots_dir(exp)) as tmp:
        loss_curves(losses, exp, tmp / "losses.png")
        loss_curves(losses, exp, tmp / "losses_wall_time.png", x="wall_time")
        task = task_for(params, exp)
        # Training over time: the fixed-input snapshots, one labelled row each, oldest on top
        # (for a translator each snapshot is its inputs above its outputs).  A task whose
        # snapshots are of fixed noise names the picture itself.
        name, caption = getattr(task, "PROGRESS_PICTURE", DEFAULT_PROGRESS_PICTURE)
        snaps = list_images(paths.model_dir(exp) / "snapshots")
        if snaps:
            progress_figure([load_image(p) for p in snaps], [snapshot_step(p) for p in snaps],
                            f"{exp}: {caption}", tmp / name)
        task.plot_samples(params, exp, tmp)
    print(f"plot: {exp} -> {paths.plots_dir(exp)}")
