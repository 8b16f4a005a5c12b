"""list: what ganflow knows and what this project defines, read from the registries and params.yaml.

  ganflow list                  models, dataset sources, data sets, experiments
  ganflow list models           one section only (models | sources | datasets | experiments)
  ganflow list --json           the same as JSON (for scripts)

Models come from the model registry (one line: the model's docstring), sources from the
source registry (size and whether fetch needs the network or a file you download yourself),
data sets and experiments from params.yaml, each with how far the pipeline has got.  A new
model or source module shows up here without changes to this file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from ganflow.errors import ParamsError

SECTIONS = ("models", "sources", "datasets", "experiments")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("section", nargs="?", choices=SECTIONS, help="show one section only")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _first_line(text: str | None) -> str:
    for line in (text or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def models() -> list[dict]:
    import sys

    from ganflow.models import MODELS, load_all

    load_all()
    return [{"name": name, "about": _first_line(cls.__doc__) or _first_line(sys.modules[cls.__module__].__doc__),
             "module": cls.__module__} for name, cls in sorted(MODELS.items())]


def sources() -> list[dict]:
    from ganflow.data.sources import SOURCES, load_all

    load_all()
    return [{"name": s.name, "offline": s.offline, "layout": s.layout, "size": s.size,
             "about": s.description} for _, s in sorted(SOURCES.items())]


def _status_dataset(name: str) -> str:
    from ganflow.stages import paths

    done = [label for label, d in (("fetched", paths.raw_dir(name)), ("paired", paths.pairs_dir(name)),
                                    ("masked", paths.masked_dir(name))) if d.is_dir()]
    return ", ".join(done) if done else "not fetched yet"


def datasets(params) -> list[dict]:
    from ganflow.data.sources import SOURCES, load_all

    load_all()
    rows = []
    for name, d in params.datasets.items():
        src = SOURCES.get(d.source)
        rows.append({"name": name, "source": d.source, "image_size": d.image_size,
                     "offline": bool(src and src.offline), "size": src.size if src else "?",
                     "status": _status_dataset(name)})
    return rows


def _status_experiment(exp: str) -> tuple[str, dict]:
    from ganflow.stages import paths
    from ganflow.stages.summary import headline_numbers, metric_files

    run_file = paths.model_dir(exp) / "run.json"
    if not run_file.is_file():
        return "not trained yet", {}
    run = json.loads(run_file.read_text())
    from ganflow.report.summary import duration

    return f"trained {run.get('steps', '?')} steps in {duration(run.get('wall_time_s'))}", \
        headline_numbers(metric_files(exp))


def experiments(params) -> list[dict]:
    rows = []
    for name, e in params.experiments.items():
        status, numbers = _status_experiment(name)
        rows.append({"name": name, "model": e.model, "dataset": e.dataset, "task": e.task, "status": status,
                     "numbers": numbers})
    return rows


MAX_CELL = {"size": 40, "about": 90}  # long cells are cut in tables (--json has them whole)


def _cut(text: str, n: int | None) -> str:
    return text if n is None or len(text) <= n else text[:n - 1].rstrip() + "…"


def _table(rows: list[dict], cols: list[str]) -> list[str]:
    text = [[_cut(str(r.get(c, "")), MAX_CELL.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) if text else len(c) for i, c in enumerate(cols)]
    out = ["  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    out += ["  " + "  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip() for t in text]
    return out


def collect(args) -> dict:
    from ganflow.params import load_params

    wanted = [args.section] if args.section else list(SECTIONS)
    out: dict = {}
    if "models" in wanted:
        out["models"] = models()
    if "sources" in wanted:
        out["sources"] = sources()
    if {"datasets", "experiments"} & set(wanted):
        if not Path(args.params).is_file():
            raise ParamsError(f"list: {args.params} not found: data sets and experiments are defined there "
                             "(run ganflow from the project root, or pass --params)")
        params = load_params(args.params)
        if "datasets" in wanted:
            out["datasets"] = datasets(params)
        if "experiments" in wanted:
            out["experiments"] = experiments(params)
    return out


def main(args) -> int:
    out = collect(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    lines: list[str] = []
    if "models" in out:
        lines += [f"Models ({len(out['models'])}; name them in params.yaml experiments.<name>.model):"]
        lines += _table(out["models"], ["name", "about"]) + [""]
    if "sources" in out:
        rows = [{**s, "offline": "yes" if s["offline"] else "no"} for s in out["sources"]]
        lines += [f"Dataset sources ({len(rows)}; name them in params.yaml datasets.<name>.source; "
                  "offline: no network needed):"]
        lines += _table(rows, ["name", "offline", "layout", "size", "about"]) + [""]
    if "datasets" in out:
        rows = [{**d, "offline": "yes" if d["offline"] else "no"} for d in out["datasets"]]
        lines += [f"Data sets in {args.params} ({len(rows)}):"]
        lines += _table(rows, ["name", "source", "image_size", "offline", "size", "status"]) + [""]
    if "experiments" in out:
        rows = [{**e, "numbers": ", ".join(f"{k} {v:.4g}" for k, v in e["numbers"].items())}
                for e in out["experiments"]]
        lines += [f"Experiments in {args.params} ({len(rows)}):"]
        lines += _table(rows, ["name", "model", "dataset", "task", "status", "numbers"]) + [""]
    print("\n".join(lines).rstrip())
    return 0
