"""`ganflow tables`: the README's measured-number tables from hand-written results/ files.

Every number below is written into a metric file here and must come out, formatted, in the row
the README keeps it in; experiments without files say "not run"; a broken file is a StatsError
that names it.
"""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT
from ganflow.cli import main as ganflow_main
from ganflow.cli import run as ganflow_run
from ganflow.errors import StatsError
from ganflow.stages.seeds import spread


def _iv(low, high, n, resamples=2000):
    return {"low": low, "high": high, "level": 0.95, "method": "percentile bootstrap over test images",
            "resamples": resamples, "seed": 0, "n": n}


def _write(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


NUMERICS = {"cpu_model": "AMD EPYC 7B13", "isa": "AVX2", "threads": 2, "torch": "2.13.0+cpu", "device": "cpu"}


@pytest.fixture
def results(tmp_path, monkeypatch):
    """params.yaml of the project, and results/ for pix2pix (with seeds.json) and cyclegan only."""
    monkeypatch.chdir(tmp_path)
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    r = tmp_path / "results"
    _write(r / "pix2pix/model/run.json", {"task": "inpaint", "dataset": "lfw_faces", "numerics": NUMERICS,
                                          "params": {"train": {"steps": 1500}}})
    _write(r / "pix2pix/rmse.json", {
        "metric": "rmse", "value": 0.0397213, "interval": _iv(0.034312, 0.044791, 20),
        "masked_input": 0.1886431, "masked_input_interval": _iv(0.178213, 0.202187, 20), "mean_fill": 0.0487561,
        "biharmonic": 0.0390649, "ratio_to_masked_input": 0.21056, "mean_fill_ratio_to_masked_input": 0.25846,
        "biharmonic_ratio_to_masked_input": 0.20708, "inside_mask": 0.108012, "n_fake": 20, "n_real": 20})
    _write(r / "pix2pix/box_kid.json", {"metric": "box_kid", "value": 0.00036, "masked_input": 0.0513,
                                        "mean_fill": 0.0115, "biharmonic": 0.0067})
    _write(r / "pix2pix/fid.json", {"metric": "fid", "value": 61.3, "interval": _iv(66.2, 80.4, 20, 200),
                                    "masked_input": 136.9, "n_fake": 20, "n_real": 20})
    # seeds.json as `ganflow seeds` writes it: spread() over each seed's metric files
    _write(r / "pix2pix/seeds.json", {"k": 3, "metrics": spread(
        {seed: {"rmse.json": {"value": v}} for seed, v in enumerate([0.03972, 0.03814, 0.03924])})})
    _write(r / "cyclegan/model/run.json", {"task": "unpaired", "dataset": "photo_edges", "params": {"train": {
        "steps": 2000}}, "numerics": {**NUMERICS, "cpu_model": "Intel Xeon 8481C", "isa": "AVX512", "threads": 1}})
    _write(r / "cyclegan/fid.json", {"metric": "fid", "A2B": 296.8, "directions": {
        "A2B": {"value": 296.8, "interval": _iv(290.1, 310.5, 127, 200), "input_as_is": 299.7, "n_fake": 127}}})
    _write(r / "cyclegan/rmse.json", {"metric": "rmse", "A2B": 0.205, "directions": {
        "A2B": {"value": 0.205, "interval": _iv(0.198, 0.213, 127), "mean_target": 0.157, "n_pairs": 127}}})
    return tmp_path


def _tables(capsys, *args) -> str:
    assert ganflow_run(["tables", *args]) == 0
    return capsys.readouterr().out


def test_tables_print_values_intervals_baselines_seeds_and_machine(results, capsys):
    out = _tables(capsys)
    lines = out.splitlines()
    assert "| 20 test faces | RMSE [95% bootstrap over test images] | ratio to masked input | RMSE inside the box " \
           "| box KID (n = 20) | FID (n = 20) | RMSE mean ± std over seeds |" in lines
    assert "| masked input (homework baseline) | 0.18864 [0.1782, 0.2022] | 1.000 |  | 0.0513 | 136.9 |  |" in lines
    assert "| mean training face pasted in the box | 0.04876 | 0.258 |  | 0.0115 |  |  |" in lines
    assert "| biharmonic inpainting (scikit-image) | 0.03906 | 0.207 |  | 0.0067 |  |  |" in lines
    assert "| pix2pix, 1,500 steps | 0.03972 [0.0343, 0.0448] | 0.211 | 0.108 | 0.00036 | 61.3 [66.2, 80.4] " \
           "| 0.039033 ± 0.00081 (3 seeds) |" in lines
    assert "| pix2pix_tiny | not run |  |  |  |  |  |" in lines
    assert "Machine (run.json numerics): pix2pix: AMD EPYC 7B13, ISA AVX2, 2 thread(s), torch 2.13.0+cpu" in lines

    # (the last cell, labels kept, is empty: photo_edges has no labels)
    assert "| cyclegan A2B (2,000 steps, n = 127) | 296.8 [290.1, 310.5] (299.7) | 0.205 [0.198, 0.213] | 0.157 |  |  |" \
        in lines
    assert "Machine (run.json numerics): cyclegan: Intel Xeon 8481C, ISA AVX512, 1 thread(s), torch 2.13.0+cpu" in lines
    for exp in ("pix2pix_sketches", "stargan", "cgan", "text2img", "dcgan"):  # in params.yaml, no results
        assert any(line.startswith(f"| {exp} | not run |") for line in lines), exp

    # --exp keeps one experiment's table
    only = _tables(capsys, "--exp", "cyclegan")
    assert "cyclegan A2B" in only and "pix2pix" not in only


def test_a_malformed_file_is_a_stats_error_naming_it(results, capsys):
    broken = results / "results/pix2pix/fid.json"
    broken.write_text('{"metric": "fid", "value": 61.3,')
    with pytest.raises(StatsError, match=r"results/pix2pix/fid\.json: not valid JSON"):
        ganflow_run(["tables"])
    assert ganflow_main(["tables"]) == 1  # the CLI turns it into a sentence and exit code 1
    assert "results/pix2pix/fid.json" in capsys.readouterr().err

    broken.write_text("[61.3]")  # JSON, but not a metric record
    with pytest.raises(StatsError, match=r"fid\.json: expected a JSON object, found list"):
        ganflow_run(["tables"])


def test_help_lists_the_tables_command(capsys):
    # argparse %-formats help texts: a stray "%" in one breaks `ganflow --help` for every command
    for argv in (["--help"], ["tables", "--help"]):
        with pytest.raises(SystemExit) as done:
            ganflow_run(argv)
        assert done.value.code == 0
    assert "tables" in capsys.readouterr().out
