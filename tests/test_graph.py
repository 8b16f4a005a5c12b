"""The derived stage graph: dvc.yaml is what params.yaml and the code give, every stage's code deps
hold what it runs, and an experiment or a data set switch is a params.yaml change and nothing else."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_project

from ganflow import imports
from ganflow.params import load_params
from ganflow.stages import graph


def _derive(params_file: Path = ROOT / "params.yaml") -> dict[str, graph.Stage]:
    return graph.derive(load_params(params_file))


def test_dvc_yaml_is_what_the_graph_derives():
    """dvc.yaml is written by `ganflow graph`; an edit by hand or a stale copy fails here."""
    text = graph.render_dvc_yaml(_derive(), graph.read_raw(ROOT / "params.yaml"))
    graph.check_dvc_yaml(text, ROOT / "dvc.yaml")


def test_a_stale_dvc_yaml_is_a_named_error(tmp_path):
    stale = tmp_path / "dvc.yaml"
    stale.write_text((ROOT / "dvc.yaml").read_text().replace("  train_dcgan:\n", "  train_dcgan_old:\n"))
    text = graph.render_dvc_yaml(_derive(), graph.read_raw(ROOT / "params.yaml"))
    with pytest.raises(graph.GraphError, match=r"train_dcgan.*run `ganflow graph`"):
        graph.check_dvc_yaml(text, stale)


def test_the_closure_follows_function_level_relative_and_package_imports(tmp_path):
    pkg = tmp_path / "ganflow"
    for f, body in {"__init__.py": "", "a.py": "def f():\n    from ganflow.sub import b\n",
                    "sub/__init__.py": "", "sub/b.py": "from . import c\n", "sub/c.py": "import os\n",
                    "unused.py": ""}.items():
        (pkg / f).parent.mkdir(parents=True, exist_ok=True)
        (pkg / f).write_text(body)
    found = {str(p.relative_to(pkg)) for p in imports.closure(["ganflow.a"], pkg)}
    assert found == {"__init__.py", "a.py", "sub/__init__.py", "sub/b.py", "sub/c.py"}


# One interpreter loads the third-party libraries once, then forks a fresh child per set of roots:
# each child starts with no ganflow module loaded and reports the ganflow files that importing its
# roots loaded (seconds in all, instead of a torch import per stage).
_LOADER = textwrap.dedent("""
    import importlib, json, os, sys
    for lib in ("torch", "numpy", "scipy.linalg", "pandas", "PIL.Image", "matplotlib.pyplot", "yaml",
                "pydantic", "tqdm", "skimage", "sklearn"):
        try:
            importlib.import_module(lib)
        except ImportError:
            pass
    assert not [m for m in sys.modules if m.split(".")[0] == "ganflow"]
    result = {}
    for line in sys.stdin:
        roots = json.loads(line)
        r, w = os.pipe()
        if os.fork() == 0:
            os.close(r)
            for m in roots:
                importlib.import_module(m)
            files = sorted(m.__file__ for n, m in list(sys.modules.items())
                           if n.split(".")[0] == "ganflow" and getattr(m, "__file__", None))
            os.write(w, json.dumps(files).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            result[" ".join(roots)] = json.loads(f.read())
        os.wait()
    print(json.dumps(result))
""")


def test_every_module_a_stage_loads_is_among_its_deps():
    """Independent of the static closure: import each stage's modules in a fresh interpreter and
    check that every ganflow file Python actually loaded is a declared dep of that stage."""
    by_roots: dict[tuple[str, ...], list[graph.Stage]] = {}
    for s in _derive().values():
        by_roots.setdefault(s.roots, []).append(s)
    feed = "".join(json.dumps(list(r)) + "\n" for r in by_roots)
    out = subprocess.run([sys.executable, "-c", _LOADER], input=feed, capture_output=True, text=True, check=True)
    loaded_by = json.loads(out.stdout)
    for roots, stages in by_roots.items():
        loaded = {str(Path("src") / Path(f).resolve().relative_to(ROOT / "src")) for f in loaded_by[" ".join(roots)]}
        assert "src/ganflow/stages/" + stages[0].kind + ".py" in loaded
        for s in stages:
            missing = loaded - set(s.code)
            assert not missing, f"{s.name} runs {sorted(missing)} but does not depend on it"


def test_each_stage_reads_the_keys_its_kind_reads():
    stages = _derive()
    assert "seed" in stages["evaluate_dcgan"].reads  # the noise seed of its reference draws
    assert "classifier" in stages["evaluate_stargan"].reads  # it trains its own domain classifier
    assert {"experiments.pix2pix", "train.pix2pix"} <= set(stages["train_pix2pix"].reads)
    assert "src/ganflow/data/tensors.py" in stages["train_pix2pix"].code  # batch order and flips


def test_defaults_are_read_from_defaults_yaml_where_params_yaml_is_silent():
    raw = graph.read_raw(ROOT / "params.yaml")
    spelled, defaults = graph.split_reads(("train.pix2pix", "seed"), raw)
    assert spelled == ["train.pix2pix", "seed"]
    assert "train.compile" in defaults and "train.steps" not in defaults  # pix2pix spells steps out
    del raw["seed"]
    assert graph.split_reads(("seed",), raw) == ([], ["seed"])


def _edited(tmp_path: Path, edit) -> Path:
    work = copy_project(tmp_path / "proj")
    raw = yaml.safe_load((work / "params.yaml").read_text())
    edit(raw)
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    _run("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", work)
    return work


def _run(cmd: str, cwd: Path) -> str:
    proc = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout + proc.stderr


def _planned(work: Path, target: str, dvc_target: str) -> tuple[set[str], set[str]]:
    """(jobs `snakemake -n` plans for target, stages `dvc repro --dry` plans for dvc_target)."""
    smk = set(re.findall(r"^rule (\w+):", _run(f"snakemake -n --cores 2 {target}", work), re.M))
    dvc = set(re.findall(r"Running stage '(\w+)'", _run(f"dvc repro --dry --force {dvc_target}", work)))
    return smk, dvc


def test_a_new_experiment_is_a_params_entry_and_nothing_else(tmp_path):
    def add_dcgan_b(raw):
        raw["experiments"]["dcgan_b"] = dict(raw["experiments"]["dcgan"])
        raw["train"]["dcgan_b"] = dict(raw["train"]["dcgan"])
    work = _edited(tmp_path, add_dcgan_b)
    smk, dvc = _planned(work, "results/dcgan_b/fid.json", "evaluate_dcgan_b")
    chain = {"fetch_digits", "pair_digits", "classifier_digits", "weights",
             "train_dcgan_b", "sample_dcgan_b", "evaluate_dcgan_b"}
    assert smk == chain and dvc == chain


def test_switching_a_data_set_is_one_params_change(tmp_path):
    work = _edited(tmp_path, lambda raw: raw["experiments"]["pix2pix"].update(dataset="facades"))
    smk, dvc = _planned(work, "results/pix2pix/fid.json", "evaluate_pix2pix")
    chain = {"fetch_facades", "pair_facades", "mask_facades", "weights",
             "train_pix2pix", "sample_pix2pix", "evaluate_pix2pix"}
    assert smk == chain and dvc == chain
    assert "ganflow fetch --dataset facades" in (work / "dvc.yaml").read_text()


def test_a_stage_run_by_dvc_on_a_stale_dvc_yaml_refuses(tmp_path):
    work = _edited(tmp_path, lambda raw: raw["experiments"]["pix2pix"].update(dataset="facades"))
    proc = subprocess.run("ganflow fetch --dataset lfw_faces", shell=True, cwd=work, capture_output=True,
                          text=True, env={**os.environ, "DVC_STAGE": "fetch_lfw_faces"})
    assert proc.returncode == 1 and "run `ganflow graph`" in proc.stderr
    assert not (work / "data/raw/lfw_faces").exists(), "nothing is built on a stale graph"


def test_the_cached_derivation_is_the_derivation_and_a_params_edit_invalidates_it(tmp_path, monkeypatch):
    params_file, cache = tmp_path / "params.yaml", tmp_path / "graph.json"
    params_file.write_text((ROOT / "params.yaml").read_text())
    fresh = graph.load_cached(params_file, cache)
    params, stages, text = graph.load(params_file)
    assert fresh == (stages, {n: graph.resolved_values(s, params) for n, s in stages.items()}, text)

    def no_derivation(*_):
        raise AssertionError("derived again although nothing changed")
    monkeypatch.setattr(graph, "load", no_derivation)
    assert graph.load_cached(params_file, cache) == fresh  # read back from the cache
    params_file.write_text(params_file.read_text().replace("lr: 0.0002", "lr: 0.0003", 1))
    with pytest.raises(AssertionError, match="derived again"):
        graph.load_cached(params_file, cache)
