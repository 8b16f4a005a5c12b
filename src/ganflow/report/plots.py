"""Loss curves from losses.csv: every term of G and D in its own panel, raw and smoothed.

losses.csv has one row per logged step: ``step``, ``wall_time`` (seconds since training began,
resumes included) and one column per loss term, named ``<phase>_<term>`` (``D_total``,
``G_gan``, ``G_rec``...).  A phase that does not run every step (StarGAN's G, one step in
n_critic) leaves blanks, which are skipped rather than drawn as zeros.

Each term gets a panel of its own because the terms of one phase live on very different
scales (pix2pix's ``G_rec`` is ~100x its ``G_gan``): in one shared panel the small ones would
be flat lines.  Raw values are drawn faint, an exponential moving average solid.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ganflow.atomic import atomic_path  # noqa: E402

AXES = ("step", "wall_time")
X_LABEL = {"step": "training step", "wall_time": "wall time (s)"}
PHASE_ORDER = ("D", "G")  # the course's order: fix G, train D; then train G through D


def smooth(values: pd.Series, span: int | None = None) -> pd.Series:
    """Exponential moving average; ``span`` None scales with the length (about 1/25 of the run),
    so that a 20-row tiny run and a 5,000-row long one are both readable."""
    if span is None:
        span = max(2, len(values) // 25)
    return values.ewm(span=span, adjust=False).mean()


def terms_by_phase(losses: pd.DataFrame) -> dict[str, list[str]]:
    """{phase: its columns}, phases in D, G, then alphabetical order; ``total`` first in each."""
    cols = [c for c in losses.columns if c not in AXES and "_" in c]
    if not cols:
        raise ValueError(f"losses have no <phase>_<term> columns; columns are {list(losses.columns)}")
    phases = sorted({c.split("_", 1)[0] for c in cols},
                    key=lambda p: (PHASE_ORDER.index(p) if p in PHASE_ORDER else len(PHASE_ORDER), p))
    out = {}
    for phase in phases:
        mine = [c for c in cols if c.split("_", 1)[0] == phase]
        out[phase] = sorted(mine, key=lambda c: (c != f"{phase}_total", mine.index(c)))
    return out


def _check_x(losses: pd.DataFrame, x: str) -> None:
    if x not in AXES:
        raise ValueError(f"x must be one of {AXES}, got {x!r}")
    if x not in losses.columns:
        raise ValueError(f"losses have no {x!r} column; columns are {list(losses.columns)}")


def _draw(ax, xs: pd.Series, ys: pd.Series, label: str, color=None) -> None:
    ok = ys.notna() & xs.notna()
    xs, ys = xs[ok], ys[ok]
    if ys.empty:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        return
    line, = ax.plot(xs, ys, alpha=0.25, lw=0.8, color=color)
    ax.plot(xs, smooth(ys.reset_index(drop=True)).to_numpy(), color=line.get_color(), lw=1.6, label=label)


def _save(fig, path: Path | str) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def loss_curves(losses: pd.DataFrame, title: str, path: Path | str, x: str = "step") -> None:
    """One row of panels per phase (D on top, then G), one panel per term, against ``x``
    (``step`` or ``wall_time``); raw values faint, smoothed solid; the last smoothed value in
    each panel's title, so the figure reads without the CSV."""
    _check_x(losses, x)
    phases = terms_by_phase(losses)
    ncols = max(len(c) for c in phases.values())
    fig, axes = plt.subplots(len(phases), ncols, figsize=(3.4 * ncols, 2.7 * len(phases)), squeeze=False)
    for r, (phase, cols) in enumerate(phases.items()):
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(cols):
                ax.axis("off")
                continue
            col = cols[c]
            _draw(ax, losses[x], losses[col], "smoothed", color=f"C{r}")
            last = smooth(losses[col].dropna().reset_index(drop=True))
            ax.set_title(f"{col}" + (f"  (end {last.iloc[-1]:.4g})" if len(last) else ""), fontsize=9)
            ax.set_xlabel(X_LABEL[x], fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: losses per term against {X_LABEL[x]} (faint: raw; solid: smoothed)", fontsize=10)
    _save(fig, path)


def compare_losses(runs: dict[str, pd.DataFrame], path: Path | str) -> None:
    """Several experiments on one figure: each phase's ``total`` (rows) against steps and wall
    time (columns), one colour per experiment.  Totals are the one term every model logs;
    the y axis is logarithmic when the values are positive and span more than 20x, since models
    weight their terms differently (pix2pix's reconstruction weight is 100)."""
    if not runs:
        raise ValueError("compare_losses: no experiments to compare")
    phases: list[str] = []
    for losses in runs.values():
        for phase in terms_by_phase(losses):
            if phase not in phases:
                phases.append(phase)
    phases.sort(key=lambda p: (PHASE_ORDER.index(p) if p in PHASE_ORDER else len(PHASE_ORDER), p))
    fig, axes = plt.subplots(len(phases), 2, figsize=(11, 3.4 * len(phases)), squeeze=False)
    for r, phase in enumerate(phases):
        col = f"{phase}_total"
        for c, x in enumerate(AXES):
            ax = axes[r][c]
            values = []
            for k, (exp, losses) in enumerate(runs.items()):
                if col in losses.columns and x in losses.columns:
                    _draw(ax, losses[x], losses[col], exp, color=f"C{k}")
                    values.append(losses[col].dropna())
            both = pd.concat(values) if values else pd.Series(dtype=float)
            if len(both) and (both > 0).all() and both.max() > 20 * both.min():
                ax.set_yscale("log")  # scales 20x apart: on a linear axis the small ones are flat
            ax.set_title(f"{col} against {X_LABEL[x]}", fontsize=9)
            ax.set_xlabel(X_LABEL[x], fontsize=8)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.suptitle("experiments compared (faint: raw; solid: smoothed)", fontsize=10)
    _save(fig, path)


def final_losses(losses: pd.DataFrame) -> dict[str, float]:
    """The last smoothed value of every term: what the summary's table shows."""
    out = {}
    for cols in terms_by_phase(losses).values():
        for col in cols:
            values = losses[col].dropna().reset_index(drop=True)
            if len(values):
                out[col] = float(smooth(values).iloc[-1])
    return out


def metric_bars(table: pd.DataFrame, path: Path | str, lower_is_better: dict[str, bool] | None = None) -> None:
    """Headline metrics across experiments: one panel per metric (its own scale), one bar per
    experiment; ``table`` has an ``experiment`` column and one column per metric (blank where
    an experiment has no such number)."""
    metrics = [c for c in table.columns if c != "experiment"]
    if not metrics:
        raise ValueError("metric_bars: no metric columns")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 0.5 + 0.45 * max(2, len(table))),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        values = pd.to_numeric(table[metric], errors="coerce")
        ys = np.arange(len(table))
        ax.barh(ys, values.fillna(0).to_numpy(), color=[f"C{i}" for i in range(len(table))])
        ax.set_yticks(ys, table["experiment"].tolist(), fontsize=8)
        ax.invert_yaxis()
        for y, v in zip(ys, values):
            ax.text(0, y, "  n/a" if pd.isna(v) else f" {v:.4g}", va="center", fontsize=7)
        better = (lower_is_better or {}).get(metric)
        ax.set_title(metric + ("" if better is None else (" (lower is better)" if better else " (higher is better)")),
                     fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    _save(fig, path)


def snapshot_step(path: Path) -> int:
    """The training step of a snapshot file written by the train stage (``step_000100.png``)."""
    return int(Path(path).stem.split("_")[-1])


def progress_figure(images: list[np.ndarray], steps: list[int], title: str, path: Path | str) -> None:
    """Training snapshots stacked oldest on top, each labelled with its step, as the course shows
    progress ("after 100, 1,000, 10,000 updates"): an unlabelled stack leaves the reader guessing."""
    if not images:
        raise ValueError("progress_figure: no snapshots")
    h, w = images[0].shape[:2]
    width = 9.0
    fig, axes = plt.subplots(len(images), 1, figsize=(width + 1.0, len(images) * width * h / w + 0.6),
                             squeeze=False)
    for ax, img, step in zip(axes[:, 0], images, steps):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(f"step {step:,}", fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
