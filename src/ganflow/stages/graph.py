"""The stage graph, derived from params.yaml and the code; written nowhere by hand.

``derive(params)`` gives every stage: its name (``train_pix2pix``), kind, command, the data it
reads, the source files it runs and the params keys it reads.  Both orchestrators take it from
here: the Snakefile builds one rule per stage from ``derive`` directly, and ``ganflow graph``
writes the same stages into dvc.yaml (DVC cannot run code to find its stages, so it reads a
written file; ``ganflow graph --check`` and tests/test_graph.py fail when that file is stale,
and a stage run by DVC on a stale dvc.yaml refuses to start).

Where the pieces come from:
- Stages: one fetch/pair per data set that an experiment (or grading) uses, mask / classifier /
  text_encoder where a task needs them, the per-experiment chain train -> sample -> evaluate ->
  plot -> summary (-> export), then compare, answer_key and grade.  A task module says what its
  stages read and write (DATASET_INPUTS, METRICS, ... in stages/tasks/<task>.py); a model module
  says its task (``register(name, task=...)``).
- Code: the import closure (ganflow/imports.py) of the stage's module plus the modules it loads
  by name: the task, the model, the data source.
- Params: every key a stage reads.  DVC sees a key in params.yaml where params.yaml spells it out
  and in src/ganflow/defaults.yaml where a default supplies it; Snakemake sees the resolved value.
  Either way, changing it reruns that stage and what follows, nothing else.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from ganflow import imports
from ganflow.atomic import write_text
from ganflow.errors import GraphError
from ganflow.params import DEFAULTS, DEFAULTS_FILE, NAMED_SECTIONS, Params, load_params
from ganflow.stages import paths

DVC_FILE = Path("dvc.yaml")
PARAMS_FILE = Path("params.yaml")
SRC_ROOT = imports.PACKAGE_DIR.parent  # .../src: code deps are written relative to the project root
DATASET_KINDS = ("fetch", "pair", "mask", "classifier", "text_encoder", "answer_key")  # run with --dataset




@dataclass(frozen=True)
class Out:
    path: str
    cache: bool = True     # False: small text files versioned by git (metric records)
    metric: bool = False   # listed under dvc.yaml `metrics:` (dvc metrics show / diff)

    @property
    def is_dir(self) -> bool:
        return Path(self.path).suffix == ""


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str               # fetch, pair, mask, train, ...: what profiles key resources on
    cmd: str
    data: tuple[str, ...]   # the artifacts it reads (outputs of other stages)
    roots: tuple[str, ...]  # the modules it runs (its closure is `code`)
    code: tuple[str, ...]   # the source files it runs, relative to the project root
    outs: tuple[Out, ...]
    reads: tuple[str, ...]  # dotted params keys it reads

    @property
    def deps(self) -> tuple[str, ...]:
        return self.data + self.code


def _rel(path: Path) -> str:
    return str(Path("src") / path.relative_to(SRC_ROOT))


def code_files(modules: list[str]) -> tuple[str, ...]:
    return tuple(sorted(_rel(p) for p in imports.closure(modules)))


def _source(source_name: str):
    from ganflow.data.sources import get_source, load_all

    load_all()
    return get_source(source_name)


def _source_module(source_name: str) -> str:
    """The module that registers a data source (loaded by name at run time, so a root of its closure)."""
    return inspect.getmodule(_source(source_name).fetch).__name__


def task_module(task: str) -> ModuleType:
    from ganflow.stages.tasks import TASK_MODULES

    if task not in TASK_MODULES:
        raise GraphError(f"task {task!r} has no module in stages/tasks/; available: {sorted(TASK_MODULES)}")
    return importlib.import_module(f"ganflow.stages.tasks.{TASK_MODULES[task]}")


def _model_module(model: str) -> str:
    from ganflow.models import get_model

    return get_model(model).__module__


class _Builder:
    """Collects stages; a per-dataset stage is added once, however many experiments need it."""

    def __init__(self, params: Params):
        self.p = params
        self.stages: dict[str, Stage] = {}

    def add(self, kind: str, target: str | None, *, data=(), roots=(), outs=(), reads=()) -> str:
        name = f"{kind}_{target}" if target else kind
        if name not in self.stages:
            flag = "" if target is None else (f" --dataset {target}" if kind in DATASET_KINDS else f" --exp {target}")
            modules = (f"ganflow.stages.{kind}", *roots)
            self.stages[name] = Stage(
                name=name, kind=kind, cmd=f"ganflow {kind}{flag}", data=tuple(data),
                roots=modules, code=code_files(list(modules)),
                outs=tuple(o if isinstance(o, Out) else Out(str(o)) for o in outs),
                reads=tuple(reads))
        return name

    # -- per data set -------------------------------------------------------------------------
    def dataset_artifact(self, artifact: str, ds: str) -> str:
        """The path of one per-dataset artifact, adding the stages that make it."""
        source = self.p.dataset(ds).source
        src_mod = _source_module(source)
        spelled = ["source"] + (["options"] if self.p.datasets[ds].options else [])
        self.add("fetch", ds, roots=[src_mod], outs=[paths.raw_dir(ds)],
                 reads=[f"datasets.{ds}.{k}" for k in spelled])
        self.add("pair", ds, data=[str(paths.raw_dir(ds))], roots=[src_mod], outs=[paths.pairs_dir(ds)],
                 reads=[f"datasets.{ds}"])
        pairs = str(paths.pairs_dir(ds))
        if artifact == "pairs":
            return pairs
        made = {"masked": (paths.masked_dir(ds), "mask", [f"mask.{ds}"]),
                "text_encoder": (paths.text_encoder_dir(ds), "text_encoder", [f"text_encoder.{ds}"]),
                "classifier": (paths.classifier_dir(ds), "classifier", ["classifier"])}
        if artifact not in made:
            raise GraphError(f"unknown data set artifact {artifact!r}; known: pairs, {', '.join(made)}")
        out, kind, reads = made[artifact]
        self.add(kind, ds, data=[pairs], outs=[out], reads=reads)
        return str(out)

    def weights(self) -> str:
        self.add("weights", None, outs=[paths.weights_dir()], reads=["weights"])
        return str(paths.weights_dir())

    # -- per experiment -------------------------------------------------------------------------
    def experiment(self, exp: str) -> list[str]:
        """Adds exp's chain; returns the files compare reads from it."""
        e = self.p.experiment(exp)
        task = task_module(e.task)
        roots = [task.__name__, _model_module(e.model)]
        inputs = [self.dataset_artifact(a, e.dataset) for a in task.DATASET_INPUTS]
        own = [f"experiments.{exp}", f"train.{exp}"]
        model, losses = str(paths.model_dir(exp)), str(paths.losses_csv(exp))
        samples, plots = str(paths.samples_dir(exp)), str(paths.plots_dir(exp))
        metrics = list(task.METRICS)
        eval_data = [samples, model, *inputs, self.weights()]
        if task.SCORED_BY_CLASSIFIER and _source(self.p.datasets[e.dataset].source).labelled:
            eval_data.append(self.dataset_artifact("classifier", e.dataset))
            metrics.insert(1, getattr(task, "CLASSIFIER_METRIC", "classifier"))
        metric_files = [str(paths.metric_file(exp, m)) for m in metrics]
        # memorisation.json comes with its picture of the closest sample / training-image pairs
        pictures = [str(paths.memorisation_picture(exp))] if "memorisation" in metrics else []

        self.add("train", exp, data=inputs, roots=roots, outs=[model, losses], reads=own)
        self.add("sample", exp, data=[model, *inputs], roots=roots, outs=[samples], reads=[*own, "sample", "seed"])
        headline = Out(str(paths.metric_file(exp, "metrics")), cache=False, metric=True)  # stages/evaluate.py
        self.add("evaluate", exp, data=eval_data, roots=roots,
                 outs=[*(Out(f, cache=False) for f in [*metric_files, *pictures]), headline],
                 reads=[*own, "evaluate", "seed", *task.EVALUATE_READS])
        self.add("plot", exp, data=[losses, model, samples, *inputs], roots=roots, outs=[plots],
                 reads=[*own, "seed"])
        dataset_reads = [f"datasets.{e.dataset}"] + ([f"mask.{e.dataset}"] if "masked" in task.DATASET_INPUTS else [])
        exp_dir = paths.exp_dir(exp)
        self.add("summary", exp, data=[model, losses, plots, *metric_files, *inputs], roots=roots,
                 outs=[Out(str(exp_dir / "summary.md"), cache=False), Out(str(exp_dir / "summary.html"))],
                 reads=[f"experiments.{exp}", *dataset_reads])
        if task.EXPORTS_SUBMISSION:
            self.add("export", exp, data=[samples, *inputs], roots=roots,
                     outs=[exp_dir / "submission.csv"], reads=[f"experiments.{exp}"])
        return [losses, *metric_files]

    def grading(self) -> None:
        g = self.p.grading
        if g.dataset not in self.p.datasets:
            return  # grading's default data set is not in this params.yaml: no grading stages
        masked = self.dataset_artifact("masked", g.dataset)
        answer_key = paths.DATA / "grading" / g.dataset
        self.add("answer_key", g.dataset, data=[masked], outs=[answer_key])
        strong = [] if g.strong_rmse is not None else [str(paths.metric_file(g.strong_experiment, "rmse"))]
        grading = paths.RESULTS / "grading"
        self.add("grade", None, data=[str(g.submissions_dir), str(answer_key), *strong],
                 outs=[grading / "leaderboard.csv", grading / "leaderboard.md", grading / "scores.png",
                       grading / "findings", Out(str(grading / "summary.json"), cache=False, metric=True)],
                 reads=["grading"])



def derive(params: Params) -> dict[str, Stage]:
    """Every stage of the pipeline that params.yaml describes, in dependency order."""
    b = _Builder(params)
    compared: list[str] = []
    for exp in params.experiments:
        compared += b.experiment(exp)
    # compare lists each experiment's task, which an experiment may leave to its model's module.
    models = sorted({_model_module(e.model) for e in params.experiments.values()})
    b.add("compare", None, data=compared, roots=models, outs=[paths.RESULTS / "compare"], reads=["experiments"])
    b.grading()
    return b.stages


# -- params keys: params.yaml or defaults.yaml --------------------------------------------------------

def _lookup(tree: Any, parts: list[str]) -> tuple[bool, Any]:
    for part in parts:
        if not isinstance(tree, dict) or part not in tree:
            return False, None
        tree = tree[part]
    return True, tree


def _default_parts(parts: list[str]) -> list[str]:
    """params key -> its defaults.yaml key: train.pix2pix.lr -> train.lr (named sections share one template)."""
    return [parts[0], *parts[2:]] if parts[0] in NAMED_SECTIONS else parts


def _leaves(tree: Any, prefix: list[str]) -> list[list[str]]:
    if isinstance(tree, dict) and tree:
        return [leaf for k, v in tree.items() for leaf in _leaves(v, [*prefix, k])]
    return [prefix]


def split_reads(reads: tuple[str, ...], raw: dict) -> tuple[list[str], list[str]]:
    """(keys DVC reads from params.yaml, keys it reads from defaults.yaml) for a stage's reads.

    A key that params.yaml spells out is read there; each of its default leaves that params.yaml
    leaves out is read from defaults.yaml (train.pix2pix -> train.threads, train.compile, ...).
    """
    spelled, defaults = [], []
    for key in reads:
        parts = key.split(".")
        found, value = _lookup(raw, parts)
        if found:
            spelled.append(key)
        has_default, default = _lookup(DEFAULTS, _default_parts(parts))
        if not has_default:
            continue
        for leaf in _leaves(default, []):
            if not (found and _lookup(value, leaf)[0]):
                defaults.append(".".join(_default_parts(parts) + leaf))
    return spelled, sorted(set(defaults))


def resolved_values(stage: Stage, params: Params) -> dict[str, Any]:
    """What the stage reads, defaults applied: Snakemake's params, so a change reruns the rule."""
    tree = params.model_dump(mode="json")
    return {key: _lookup(tree, key.split("."))[1] for key in stage.reads}


# -- dvc.yaml ----------------------------------------------------------------------------------------

HEADER = """\
# Written by `ganflow graph` from params.yaml and the code: do not edit (edits are overwritten).
# Change params.yaml (an experiment, a data set) or the code, then run `ganflow graph`; any
# snakemake run does it too, and a stage that DVC starts on a stale copy of this file refuses to run.
# Params come from params.yaml where it spells a key out, else from src/ganflow/defaults.yaml.
"""


def _out_entry(o: Out) -> Any:
    return o.path if o.cache else {o.path: {"cache": False}}


def dvc_document(stages: dict[str, Stage], raw: dict) -> dict:
    doc: dict[str, Any] = {"stages": {}}
    defaults_file = str(Path("src") / DEFAULTS_FILE.relative_to(SRC_ROOT))
    for s in stages.values():
        spelled, defaults = split_reads(s.reads, raw)
        entry: dict[str, Any] = {"cmd": s.cmd, "deps": list(s.deps)}
        if spelled or defaults:
            entry["params"] = spelled + ([{defaults_file: defaults}] if defaults else [])
        outs = [_out_entry(o) for o in s.outs if not o.metric]
        metrics = [_out_entry(o) for o in s.outs if o.metric]
        if outs:
            entry["outs"] = outs
        if metrics:
            entry["metrics"] = metrics
        doc["stages"][s.name] = entry
    doc["plots"] = _plots(stages)
    return doc


def _plots(stages: dict[str, Stage]) -> list[dict]:
    """`dvc plots show`: each experiment's D and G totals, then every experiment on one axis."""
    losses = [o.path for s in stages.values() if s.kind == "train" for o in s.outs if o.path.endswith("losses.csv")]
    plots: list[dict] = [{f"{Path(f).parent.name} losses": {"template": "linear", "x": "step",
                                                             "y": {f: ["D_total", "G_total"]}}} for f in losses]
    for term in ("G_total", "D_total"):
        plots.append({f"{term}, all experiments": {"template": "linear", "x": "step", "y": {f: term for f in losses}}})
    return plots


def render_dvc_yaml(stages: dict[str, Stage], raw: dict) -> str:
    return HEADER + yaml.safe_dump(dvc_document(stages, raw), sort_keys=False, width=120)


def read_raw(params_file: Path = PARAMS_FILE) -> dict:
    """params.yaml as written (which keys it spells out decides where DVC reads each one)."""
    return yaml.safe_load(Path(params_file).read_text()) or {}


def load(params_file: Path = PARAMS_FILE) -> tuple[Params, dict[str, Stage], str]:
    """(validated params, the derived stages, the dvc.yaml text they give)."""
    params = load_params(params_file)
    stages = derive(params)
    return params, stages, render_dvc_yaml(stages, read_raw(params_file))


def _inputs_key(params_file: Path) -> str:
    """sha256 of everything the derivation reads: params.yaml and ganflow's source and data files."""
    h = hashlib.sha256(Path(params_file).read_bytes())
    for f in sorted(imports.PACKAGE_DIR.rglob("*")):
        if f.suffix in (".py", ".yaml") and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(imports.PACKAGE_DIR)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def load_cached(params_file: Path = PARAMS_FILE, cache: Path = Path(".snakemake/ganflow/graph.json")
                ) -> tuple[dict[str, Stage], dict[str, dict], str]:
    """(stages, each stage's resolved param values, dvc.yaml text), as ``load`` gives them.

    The derivation is a pure function of params.yaml and the code, so it is cached under their
    content hash: a Snakemake run with nothing changed skips validating params.yaml (which imports
    torch through the model registry) and reading the import closures."""
    key = _inputs_key(params_file)
    if cache.is_file():
        try:
            saved = json.loads(cache.read_text())
        except ValueError:
            saved = {}
        if saved.get("key") == key:
            stages = {name: Stage(**{**d, **{k: tuple(d[k]) for k in ("data", "roots", "code", "reads")},
                                     "outs": tuple(Out(**o) for o in d["outs"])})
                      for name, d in saved["stages"].items()}
            return stages, saved["values"], saved["dvc_yaml"]
    params, stages, text = load(params_file)
    values = {name: resolved_values(s, params) for name, s in stages.items()}
    write_text(cache, json.dumps({"key": key, "stages": {n: asdict(s) for n, s in stages.items()},
                                  "values": values, "dvc_yaml": text}))
    return stages, values, text


def sync_dvc_yaml(text: str, dvc_file: Path = DVC_FILE) -> bool:
    """Write dvc.yaml when it differs from ``text``; True when it changed."""
    if dvc_file.exists() and dvc_file.read_text() == text:
        return False
    write_text(dvc_file, text)
    return True


def check_dvc_yaml(text: str, dvc_file: Path = DVC_FILE) -> None:
    """Raise GraphError, naming the stages that differ, when dvc.yaml is not ``text``."""
    current = dvc_file.read_text() if dvc_file.exists() else ""
    if current == text:
        return
    want = yaml.safe_load(text)["stages"]
    have = (yaml.safe_load(current) or {}).get("stages", {}) if current else {}
    diff = sorted(set(want) ^ set(have)) or sorted(n for n in want if want[n] != have.get(n)) or ["plots"]
    raise GraphError(f"{dvc_file} is out of date with params.yaml and the code (stages that differ: "
                     f"{', '.join(diff[:8])}{' ...' if len(diff) > 8 else ''}); run `ganflow graph` to rewrite it")


def check_when_run_by_dvc(params: Params, params_file: Path = PARAMS_FILE) -> None:
    """Called by the CLI before a stage runs, with the params it already loaded: under `dvc repro`
    (DVC_STAGE set), refuse a stale dvc.yaml."""
    if os.environ.get("DVC_STAGE") and DVC_FILE.exists():
        check_dvc_yaml(render_dvc_yaml(derive(params), read_raw(params_file)))


# -- the `ganflow graph` tool ------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=str(PARAMS_FILE), help="params file (default: params.yaml)")
    p.add_argument("--check", action="store_true", help="only check that dvc.yaml is up to date (exit 1 if not)")
    p.add_argument("--list", action="store_true", help="print each stage: kind, command, deps and params read")


def main(args: argparse.Namespace) -> int:
    _, stages, text = load(Path(args.params))
    if args.list:
        for s in stages.values():
            print(f"{s.name}  [{s.kind}]  {s.cmd}\n  reads: {', '.join(s.reads) or '-'}\n"
                  f"  data:  {', '.join(s.data) or '-'}\n  code:  {len(s.code)} files\n"
                  f"  outs:  {', '.join(o.path for o in s.outs)}")
        return 0
    if args.check:
        check_dvc_yaml(text)
        print(f"{DVC_FILE} is up to date ({len(stages)} stages)")
        return 0
    changed = sync_dvc_yaml(text)
    print(f"{DVC_FILE} {'rewritten' if changed else 'already up to date'} ({len(stages)} stages)")
    return 0
