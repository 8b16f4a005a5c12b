"""Loss curves from losses.csv: one panel per phase, every term, raw and smoothed."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ganflow.atomic import atomic_path  # noqa: E402


def smooth(values: pd.Series, span: int = 10) -> pd.Series:
    return values.ewm(span=span, adjust=False).mean()


def loss_curves(losses: pd.DataFrame, title: str, path: Path | str, x: str = "step") -> None:
    """G and D (and any other phase) in side-by-side panels; raw faint, smoothed solid."""
    terms = [c for c in losses.columns if c not in ("step", "wall_time")]
    phases = sorted({c.split("_", 1)[0] for c in terms})
    fig, axes = plt.subplots(1, len(phases), figsize=(5.5 * len(phases), 3.8), squeeze=False)
    for ax, phase in zip(axes[0], phases):
        for col in [c for c in terms if c.startswith(phase + "_")]:
            line, = ax.plot(losses[x], losses[col], alpha=0.25, lw=0.8)
            ax.plot(losses[x], smooth(losses[col]), color=line.get_color(), lw=1.6, label=col)
        ax.set_title(f"{title}: {phase}")
        ax.set_xlabel("step" if x == "step" else "wall time (s)")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
