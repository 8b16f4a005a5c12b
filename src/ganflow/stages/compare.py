"""compare: every experiment side by side in results/compare/.

  losses.png    each phase's total loss against steps and wall time, one colour per experiment
  metrics.csv   one row per experiment, one column per headline number (what `dvc plots show`
                draws as bars); blank where an experiment has no such metric
  metrics.png   the same as bars, one panel per metric
  index.md      a table of the experiments (model, data, length, numbers) linking each summary.md

The experiments are params.yaml's, in its order; one that has not been trained yet is listed
as such rather than failing the stage, so adding an experiment never breaks the comparison
(dvc.yaml's compare stage lists each trained experiment's losses.csv and metric files as deps,
which tests/test_report.py checks).
"""
from __future__ import annotations

import os

import pandas as pd

from ganflow.atomic import atomic_dir
from ganflow.errors import MissingInputError
from ganflow.params import Params
from ganflow.report.plots import compare_losses, metric_bars
from ganflow.report.summary import duration, fmt, headline, md_table
from ganflow.stages import paths
from ganflow.stages.summary import metric_files

COMPARE_DIR = paths.RESULTS / "compare"
# Which way is better, for the bar titles; a metric not listed gets no arrow.
LOWER_IS_BETTER = {"rmse": True, "fid": True, "kid": True, "is": False, "classifier_score": False,
                   "ssim": False, "psnr": False, "memorisation": True}


def table(params: Params) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], list[dict]]:
    """(metrics per experiment, losses of the trained ones, one row per experiment for index.md)."""
    rows, runs, index = [], {}, []
    for exp, e in params.experiments.items():
        losses_file = paths.losses_csv(exp)
        if not losses_file.is_file():
            index.append({"experiment": exp, "model": e.model, "dataset": e.dataset, "task": e.task,
                          "trained": "not yet", "numbers": ""})
            continue
        losses = pd.read_csv(losses_file)
        runs[exp] = losses
        numbers = {}
        for record in metric_files(exp).values():
            numbers.update(headline(record))
        rows.append({"experiment": exp, **numbers})
        last = losses.iloc[-1] if len(losses) else {}
        trained = (f"{int(last['step'])} steps, {duration(last.get('wall_time'))}" if len(losses) else "no rows")
        index.append({"experiment": exp, "model": e.model, "dataset": e.dataset, "task": e.task, "trained": trained,
                      "numbers": ", ".join(f"{k} {fmt(v)}" for k, v in numbers.items())})
    return pd.DataFrame(rows), runs, index


def run(params: Params) -> None:
    metrics, runs, index = table(params)
    if not runs:
        raise MissingInputError(f"compare: no experiment has been trained yet (no {paths.losses_csv('<exp>')} for any of "
                         f"{sorted(params.experiments)}); run `ganflow train --exp NAME` first")
    with atomic_dir(COMPARE_DIR) as tmp:
        compare_losses(runs, tmp / "losses.png")
        metrics.to_csv(tmp / "metrics.csv", index=False)
        if len(metrics.columns) > 1:
            metric_bars(metrics, tmp / "metrics.png",
                        {m: LOWER_IS_BETTER.get(m.split(".")[0]) for m in metrics.columns if m != "experiment"})
        lines = ["# Experiments compared", "", "![losses](losses.png)", ""]
        if (tmp / "metrics.png").exists():
            lines += ["![metrics](metrics.png)", ""]
        lines += md_table(["experiment", "model", "dataset", "task", "trained", "numbers"],
                           [[_link(r["experiment"]), r["model"], r["dataset"], r["task"], r["trained"], r["numbers"]]
                            for r in index])
        (tmp / "index.md").write_text("\n".join(lines) + "\n")
    print(f"compare: {len(runs)} of {len(params.experiments)} experiment(s) trained -> {COMPARE_DIR}")


def _link(exp: str) -> str:
    summary = paths.exp_dir(exp) / "summary.md"
    rel = os.path.relpath(summary, COMPARE_DIR)
    return f"[{exp}]({rel})"
