"""Snakemake and DVC see the same stage graph: names, commands, inputs, outputs, params.

Both read the graph that src/ganflow/stages/graph.py derives (Snakemake directly, DVC through the
dvc.yaml that `ganflow graph` writes); these tests read what each tool itself parsed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT, copy_project


def _py_files(folder: Path) -> set[str]:
    return {str(Path(d, f).relative_to(ROOT)) for d, _, fs in os.walk(folder) for f in fs if f.endswith(".py")}


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    from dvc.repo import Repo
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    work = copy_project(tmp_path_factory.mktemp("parity") / "proj")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        repo = Repo(str(work), uninitialized=True)
        dvc = {}
        for stage in repo.index.stages:
            params = {(p.def_path, k): v for p in stage.params for k, v in p.read_params().items()}
            dvc[stage.name] = {"cmd": stage.cmd, "deps": {d.def_path for d in stage.deps if d not in stage.params},
                               "outs": {o.def_path for o in stage.outs}, "params": params}
        with SnakemakeApi(OutputSettings(quiet=True)) as api:
            wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"),
                              workdir=Path("."))
            wf.dag()
            smk = {r.name: {"cmd": r.params["cmd"], "inputs": set(map(str, r.input)), "outs": set(map(str, r.output)),
                            "params": json.loads(r.params["values"]),
                            "dirs": {str(o) for o in r.output if o.is_flagged("directory")}}
                   for r in wf._workflow.rules if r.name != "all"}
    finally:
        os.chdir(cwd)
    return dvc, smk


def test_same_stage_names(graphs):
    dvc, smk = graphs
    assert set(dvc) == set(smk)


def test_same_commands(graphs):
    dvc, smk = graphs
    for name, stage in dvc.items():
        # The rule's shell runs params.cmd (with its thread setting and its log around it).
        assert smk[name]["cmd"] == stage["cmd"], name


def test_same_outputs_and_directory_flags(graphs):
    dvc, smk = graphs
    for name, stage in dvc.items():
        assert smk[name]["outs"] == stage["outs"], name
        assert smk[name]["dirs"] == {o for o in stage["outs"] if (ROOT / o).suffix == ""}, name


def test_same_inputs(graphs):
    dvc, smk = graphs
    for name, stage in dvc.items():
        expected = set()
        for dep in stage["deps"]:
            expected |= _py_files(ROOT / dep) if (ROOT / dep).is_dir() and dep.startswith("src/") else {dep}
        assert smk[name]["inputs"] == expected, name


def _leaves(value, path):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, [*path, k])
    else:
        yield path, value


def _dvc_value(params: dict, path: list[str]):
    """The value DVC reads for one leaf: from params.yaml where a key there covers it, else the default."""
    from ganflow.params import NAMED_SECTIONS

    for (file, key), value in params.items():
        if file == "params.yaml" and path[: len(key.split("."))] == key.split("."):
            for part in path[len(key.split(".")):]:
                if not isinstance(value, dict) or part not in value:
                    break
                value = value[part]
            else:
                return value
    default_key = ".".join([path[0], *path[2:]] if path[0] in NAMED_SECTIONS else path)
    return params.get(("src/ganflow/defaults.yaml", default_key), "<not read by DVC>")


def _raw_experiment(exp: str) -> dict:
    import yaml

    return yaml.safe_load((ROOT / "params.yaml").read_text())["experiments"][exp]


def test_same_params_and_values(graphs):
    """Every value a Snakemake rule keys its reruns on (defaults applied) is a value DVC reads for
    that stage, from params.yaml or from src/ganflow/defaults.yaml, and DVC reads no other."""
    dvc, smk = graphs
    for name, stage in dvc.items():
        used = set()
        for key, value in smk[name]["params"].items():
            for path, leaf in _leaves(value, key.split(".")):
                if leaf == {}:
                    continue  # an empty free-form section (options: {}): nothing to read
                if path[0] == "experiments" and path[-1] == "task" and "task" not in _raw_experiment(path[1]):
                    # The task the model declares is code: the model's module is among the deps.
                    model = _raw_experiment(path[1])["model"]
                    assert f"src/ganflow/models/{model}.py" in stage["deps"], name
                    continue
                assert _dvc_value(stage["params"], path) == leaf, (name, ".".join(path))
                used.add(".".join(path))
        for file, key in stage["params"]:
            assert any(u == key or u.startswith(key + ".") or file != "params.yaml" for u in used), (name, key)
        assert len([k for k in stage["params"] if k[0] != "params.yaml"]) <= len(used), name


def test_each_stage_depends_on_the_code_it_runs(graphs):
    dvc, _ = graphs
    for name, stage in dvc.items():
        verb = stage["cmd"].split()[1]
        assert f"src/ganflow/stages/{verb.replace('-', '_')}.py" in stage["deps"], name
