"""seeds: how much an experiment's numbers move with the training seed.

``ganflow seeds --exp pix2pix -k 3`` trains, samples and evaluates the experiment with the seeds
train.<exp>.seed + 0 .. k-1 (each in a temporary workspace, from copies of the prepared inputs,
exactly as ``ganflow reproduce`` reruns a run), and writes results/<exp>/seeds.json: for every
number of every metric file, the mean, the standard deviation (ddof 1) and each seed's value, with
the machine's numerics.  The pipeline's own run stands for the first seed when it was made with
the params in params.yaml.  ``ganflow reproduce`` on another machine checks against this spread.
"""
from __future__ import annotations

import numpy as np
import yaml

from ganflow.atomic import write_json
from ganflow.errors import ReproductionError, UsageError
from ganflow.machine import numerics
from ganflow.params import Params
from ganflow.stages import paths
from ganflow.stages.reproduce import SEEDS_FILE, _leaves, check_recorded_run, metric_files, rerun
from ganflow.train.device import configure_torch


def spread(runs: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """{"file:key": {mean, std, min, max, values}} over the numbers every run has."""
    leaves = {seed: {f"{name}:{k}": v for name, doc in files.items() for k, v in _leaves(doc).items()
                     if not isinstance(v, str)} for seed, files in runs.items()}
    common = set.intersection(*(set(v) for v in leaves.values()))
    out = {}
    for key in sorted(common):
        values = np.array([leaves[seed][key] for seed in runs], dtype=np.float64)
        out[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "min": float(values.min()), "max": float(values.max()), "values": values.tolist()}
    return out


def _pipeline_run_is_current(params: Params, exp: str) -> bool:
    """Whether results/<exp>/ holds a finished run made with params.yaml's params and data."""
    if not (paths.model_dir(exp) / "run.json").exists() or not metric_files(exp):
        return False
    try:
        check_recorded_run(params, exp)
    except ReproductionError:
        return False
    return True


def run(params: Params, exp: str, k: int = 3, threads: int | None = None) -> None:
    if k < 2:
        raise UsageError(f"seeds: -k must be at least 2 (a spread needs two runs), got {k}")
    base = params.train[exp].seed
    raw = yaml.safe_load(open("params.yaml", encoding="utf-8"))
    configure_torch(threads)
    runs: dict[int, dict[str, dict]] = {}
    for i in range(k):
        seed = base + i
        if i == 0 and _pipeline_run_is_current(params, exp):
            runs[seed] = metric_files(exp)
            print(f"seeds: {exp}: seed {seed}: the pipeline's run in {paths.exp_dir(exp)}")
            continue
        raw.setdefault("train", {}).setdefault(exp, {})["seed"] = seed
        print(f"seeds: {exp}: seed {seed} ({i + 1} of {k}): train, sample, evaluate in a temporary workspace")
        runs[seed], _ = rerun(yaml.safe_dump(raw, sort_keys=False), exp, threads)
    stats = spread(runs)
    write_json(paths.exp_dir(exp) / SEEDS_FILE, {
        "experiment": exp, "k": k, "seeds": list(runs), "std": "sample standard deviation (ddof 1)",
        "numerics": numerics("cpu"), "metrics": stats})
    headline = {key: v for key, v in stats.items() if key.endswith(":value")}
    for key, v in headline.items():
        print(f"seeds: {exp}: {key.removesuffix(':value')}: {v['mean']:.5g} +- {v['std']:.2g} over {k} seeds")
