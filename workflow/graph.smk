# Reads dvc.yaml and params.yaml into the rule definitions the Snakefile loops over.
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

DVC_FILE = Path("dvc.yaml")
PARAMS_FILE = Path("params.yaml")
HEAVY_STAGES = ("train_", "sample_", "evaluate_")  # stages that use torch threads


@dataclass(frozen=True)
class Output:
    path: str
    is_dir: bool
    in_report: dict | None = None  # keyword arguments of Snakemake's report() flag, or None


# What `snakemake --report report.html` shows, chosen by output path so that every experiment's
# stages are included without naming them: (path pattern, settings of report()).  Categories are
# experiments (and "data: <dataset>", "all experiments"); a plots/ folder's pictures get a
# subcategory by file name.  Captions: workflow/report/*.rst (Jinja-rendered by Snakemake).
PICTURE_KIND = {"losses": "2 loss curves", "losses_wall_time": "2 loss curves", "snapshots": "3 over training time",
                "progress": "3 over training time"}
REPORT_RULES = [
    (r"results/(?P<exp>[^/]+)/summary\.html", lambda m: dict(
        caption="workflow/report/summary.rst", category=m["exp"], subcategory="1 summary")),
    (r"results/compare", lambda m: dict(
        patterns=["{name,[^/]+}.png"], caption="workflow/report/compare.rst", category="all experiments")),
    (r"results/(?P<exp>[^/]+)/plots", lambda m: dict(
        patterns=["{name,[^/]+}.png"], caption="workflow/report/plots.rst", category=m["exp"],
        subcategory=lambda wildcards: PICTURE_KIND.get(wildcards.name, "4 results"),
        labels=lambda wildcards: {"figure": wildcards.name.replace("_", " ")})),
    (r"data/masked/(?P<dataset>[^/]+)", lambda m: dict(
        patterns=["{name,[^/]+}.png"], caption="workflow/report/mask_grid.rst", category=f"data: {m['dataset']}")),
    (r"results/(?P<what>[^/]+)/(?P<name>[^/]+)\.png", lambda m: dict(
        caption="workflow/report/picture.rst", category=m["what"])),
]


def report_for(path):
    """report() settings for an output path, or None when it is not part of the report."""
    for pattern, settings in REPORT_RULES:
        m = re.fullmatch(pattern, path)
        if m:
            return settings(m)
    return None


@dataclass(frozen=True)
class Stage:
    inputs: list
    outputs: list
    param_values: str
    threads: int
    cmd: str


def _name(entry):
    """A dvc.yaml list entry is either a path or {path: {options}}."""
    return entry if isinstance(entry, str) else next(iter(entry))


def _lookup(params, dotted):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"dvc.yaml names param {dotted!r}, which params.yaml does not have")
        node = node[part]
    return node


def _expand_code(path):
    """A code folder becomes its .py files: Snakemake sees a folder's mtime, not its content."""
    p = Path(path)
    if p.is_dir() and str(p).startswith("src/"):
        return sorted(str(f) for f in p.rglob("*.py"))
    return [path]


def load_stages(dvc_file=DVC_FILE, params_file=PARAMS_FILE):
    dvc = yaml.safe_load(dvc_file.read_text())
    params = yaml.safe_load(params_file.read_text())
    stages = {}
    for name, s in dvc["stages"].items():
        outs = [_name(o) for key in ("outs", "metrics", "plots") for o in s.get(key, [])]
        values = {k: _lookup(params, k) for k in map(_name, s.get("params", []))}
        stages[name] = Stage(
            inputs=[f for d in s.get("deps", []) for f in _expand_code(d)],
            outputs=[Output(o, Path(o).suffix == "", report_for(o)) for o in outs],
            param_values=json.dumps(values, sort_keys=True),
            # torch takes the threads Snakemake gives the job, not every core of the machine.
            threads=2 if name.startswith(HEAVY_STAGES) else 1,
            cmd=s["cmd"],
        )
    return stages


def record_with_dvc(stage_names):
    """Record a Snakemake run's outputs in dvc.lock and the DVC cache, as `dvc repro` would."""
    if not stage_names:
        return
    if not Path(".dvc").is_dir():
        print("ganflow: no .dvc/ here, so this run is not recorded in dvc.lock (nor its outputs versioned); "
              "run `dvc init` in the project root to version them, then `dvc commit` to record this run")
        return
    result = subprocess.run(["dvc", "commit", "--force", "--quiet", *stage_names], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"ganflow: dvc commit failed; outputs are not versioned:\n{result.stderr}")


STAGES = load_stages()
