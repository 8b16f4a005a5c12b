"""summary: results/<exp>/summary.md and summary.html -- one experiment at a glance.

What was trained on what and for how long (the run record), every number of every metric file
with how it was made, the final losses, every picture (plots/, the experiment's own pictures,
the data set's grids such as the masking grid), and the commands that reproduce it.  The
Markdown links its pictures relatively; the HTML embeds them (it is what `snakemake --report`
shows per experiment).  It reads files only, so it works for every model and task.

The headline numbers DVC shows (results/<exp>/metrics.json) are the evaluate stage's, not this one's:
the main job's target, evaluate, leaves `dvc metrics show` with numbers (stages/evaluate.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ganflow.atomic import write_text
from ganflow.data.images import list_images
from ganflow.errors import MissingInputError, StatsError
from ganflow.params import Params
from ganflow.report.headline import headline_numbers  # noqa: F401 (listing reads it from here)
from ganflow.report.summary import Summary, order_pictures, render_html, render_markdown
from ganflow.stages import paths

TRAINING_PICTURES = {"losses", "losses_wall_time", "snapshots", "progress"}


def metric_files(exp: str) -> dict[str, dict]:
    """Every results/<exp>/<name>.json that is a metric record (has a "metric" key), by name."""
    out = {}
    for f in sorted(paths.exp_dir(exp).glob("*.json")):
        try:
            record = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise StatsError(f"summary: {f}: not valid JSON ({e}); rerun `ganflow evaluate --exp {exp}`") from None
        if isinstance(record, dict) and "metric" in record:
            out[f.stem] = record
    return out


def data_pictures(dataset: str) -> list[Path]:
    """Grids the data stages leave at the top of their folders (the mask stage's mask_grid.png)."""
    found = []
    for folder in (paths.pairs_dir(dataset), paths.masked_dir(dataset)):
        if folder.is_dir():
            found += [p for p in list_images(folder) if p.suffix == ".png"]
    return found


def collect(params: Params, exp: str) -> Summary:
    e = params.experiment(exp)
    run_file = paths.model_dir(exp) / "run.json"
    if not run_file.is_file():
        raise MissingInputError(f"summary: {run_file} not found; run `ganflow train --exp {exp}` first")
    run = json.loads(run_file.read_text())
    losses_file = paths.losses_csv(exp)
    if not losses_file.is_file():
        raise MissingInputError(f"summary: {losses_file} not found; run `ganflow train --exp {exp}` first")
    losses = pd.read_csv(losses_file)

    plots = list_images(paths.plots_dir(exp)) if paths.plots_dir(exp).is_dir() else []
    own = [p for p in list_images(paths.exp_dir(exp)) if p.suffix == ".png"]
    pictures = (order_pictures([p for p in plots if p.stem in TRAINING_PICTURES], "training")
                + order_pictures([p for p in plots if p.stem not in TRAINING_PICTURES] + own, "results")
                + order_pictures(data_pictures(e.dataset), "data"))

    commit = (run.get("code") or {}).get("git_commit")
    commands = [
        (f"ganflow reproduce --exp {exp}", "rerun train, sample, evaluate in a temporary folder; compare every number"),
        (f"snakemake --cores 4 {paths.exp_dir(exp) / 'summary.md'}", "rebuild what is out of date, up to this page"),
        (f"dvc repro summary_{exp}", "the same through DVC"),
    ]
    if commit:
        commands.append((f"git checkout {commit}", "the code this run used"
                         + (" (it had uncommitted changes)" if run["code"].get("git_dirty") else "")))
    used = run.get("params") or {}
    shown = {"experiments": {exp: used.get("experiment", e.model_dump(mode="json"))},
             "train": {exp: used.get("train", {})},
             "datasets": {e.dataset: params.dataset(e.dataset).model_dump(mode="json")}}
    if e.dataset in params.mask:
        shown["mask"] = {e.dataset: params.mask[e.dataset].model_dump(mode="json")}
    return Summary(exp, run, metric_files(exp), losses, pictures, commands, shown)


def run(params: Params, exp: str) -> None:
    s = collect(params, exp)
    md = paths.exp_dir(exp) / "summary.md"
    write_text(md, render_markdown(s, md))
    write_text(paths.exp_dir(exp) / "summary.html", render_html(s))
    print(f"summary: {exp}: {len(s.metrics)} metric file(s), {len(s.pictures)} picture(s) -> {md}")
