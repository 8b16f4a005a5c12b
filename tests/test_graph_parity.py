"""Snakemake and DVC see the same stage graph: names, commands, inputs, outputs, params."""
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
            params = sorted(k for p in stage.params for k in p.params)
            dvc[stage.name] = {"cmd": stage.cmd, "deps": {d.def_path for d in stage.deps if d not in stage.params},
                               "outs": {o.def_path for o in stage.outs}, "params": params}
        with SnakemakeApi(OutputSettings(quiet=True)) as api:
            wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"),
                              workdir=Path("."))
            wf.dag()
            smk = {r.name: {"cmd": r.params["cmd"], "inputs": set(map(str, r.input)), "outs": set(map(str, r.output)),
                            "params": sorted(json.loads(r.params["values"])) if "values" in r.params.keys() else [],
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


def test_same_params(graphs):
    dvc, smk = graphs
    for name, stage in dvc.items():
        assert smk[name]["params"] == stage["params"], name


def test_each_stage_depends_on_the_code_it_runs(graphs):
    dvc, _ = graphs
    for name, stage in dvc.items():
        verb = stage["cmd"].split()[1]
        assert f"src/ganflow/stages/{verb.replace('-', '_')}.py" in stage["deps"], name
