# What the Snakefile's rules are made of: the derived graph, report flags, and the record in dvc.lock.
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ganflow.errors import GanflowError
from ganflow.stages import graph

PARAMS_FILE = Path("params.yaml")


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


def rule_output(o):
    """A graph output as Snakemake wants it: folders flagged, report pictures flagged."""
    out = directory(o.path) if o.is_dir else o.path
    settings = report_for(o.path)
    return report(out, **settings) if settings else out


# -- which stages this run built: only those are recorded in dvc.lock --------------------------------
BUILT_DIR = Path(".snakemake/ganflow/built")
RUN_STARTED = time.time()
# Appended to each rule's shell (bash strict mode: only reached when the stage's command succeeded).
MARK_BUILT = f"mkdir -p {BUILT_DIR} && touch {BUILT_DIR}/{{rule}}"


def built_by_this_run():
    """The stages whose jobs finished during this run (marker touched after RUN_STARTED; the second
    of slack covers file systems that store modification times in whole seconds)."""
    if not BUILT_DIR.is_dir():
        return []
    return sorted(f.name for f in BUILT_DIR.iterdir() if f.name in STAGES and f.stat().st_mtime >= RUN_STARTED - 1)


def record_with_dvc(stage_names):
    """Record the stages this run built in dvc.lock and the DVC cache, as `dvc repro` would.

    Only those: a stage this run did not build may be stale for DVC (its params changed since it
    was built), and committing it would record the old output against the new params."""
    if not stage_names:
        return
    if not Path(".dvc").is_dir():
        print("ganflow: no .dvc/ here, so this run is not recorded in dvc.lock (nor its outputs versioned); "
              "run `dvc init` in the project root to version them, then `dvc commit` to record this run")
        return
    result = subprocess.run(["dvc", "commit", "--force", "--quiet", *stage_names], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"ganflow: dvc commit failed; outputs are not versioned:\n{result.stderr}")


# The derived graph, and dvc.yaml brought in line with it, so both tools see the same stages.
try:
    STAGES, PARAM_VALUES, DVC_TEXT = graph.load_cached(PARAMS_FILE)
except GanflowError as e:  # a bad params.yaml: its sentence, not a traceback through this file
    sys.exit(f"ganflow: {e}")
if graph.sync_dvc_yaml(DVC_TEXT):
    print("ganflow: dvc.yaml rewritten from params.yaml and the code (the derived graph changed)")
KINDS = yaml.safe_load(Path(config.get("kinds", "workflow/kinds.yaml")).read_text()) or {}


def kind_threads(kind):
    """A kind's threads from the kinds file; `all`: as many as this machine has, which Snakemake
    caps at --cores, so `snakemake --cores N` hands the job N (and GANFLOW_THREADS=N)."""
    threads = KINDS.get(kind, {}).get("threads", 1)
    return (os.cpu_count() or 1) if threads == "all" else threads
