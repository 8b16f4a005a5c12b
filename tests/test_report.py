"""Reports: summary.md / summary.html / metrics.json of a tiny run hold every metric and picture,
`snakemake --report` embeds them, compare and the loss plots work, and dvc.yaml is wired so
that DVC's metrics read as one short row per experiment.

The run (marked slow): the offline default, pix2pix_tiny for 4 steps on 90/10 faces, through
Snakemake up to results/pix2pix_tiny/summary.md, then `snakemake --report`.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_project, tiny_params
from ganflow.report.plots import compare_losses, final_losses, loss_curves, smooth, terms_by_phase
from ganflow.report.headline import interval_for
from ganflow.report.summary import beside, fmt, headline, headline_table, provenance

EXP = "pix2pix_tiny"


def sh(cmd: str, cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = copy_project(tmp_path_factory.mktemp("report") / "proj")
    params = tiny_params(yaml.safe_load((work / "params.yaml").read_text()))
    params["datasets"]["lfw_faces"]["test_fraction"] = 0.1  # 10 test faces: one Inception batch per set
    params["evaluate"]["batch_size"] = 10
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", work)
    sh(f"snakemake --cores 2 results/{EXP}/summary.md", work)
    sh(f"snakemake --report report.html results/{EXP}/summary.md", work)
    return work


def metric_records(work: Path) -> dict[str, dict]:
    out = {}
    for f in sorted((work / "results" / EXP).glob("*.json")):
        record = json.loads(f.read_text())
        if "metric" in record:
            out[f.name] = record
    return out


def pictures(work: Path) -> list[Path]:
    return sorted((work / "results" / EXP / "plots").glob("*.png")) + [work / "data/masked/lfw_faces/mask_grid.png"]


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


@pytest.mark.slow
def test_summary_md_holds_every_metric_picture_and_the_command(run):
    md_file = run / "results" / EXP / "summary.md"
    md = md_file.read_text()
    records = metric_records(run)
    assert {"fid.json", "rmse.json"} <= set(records)
    for name, record in records.items():
        assert f"[{name}]({name})" in md
        for label, value in headline(record).items():  # a dict value (precision_recall) gives one row each
            assert f"| {label} | {fmt(value)}" in md, name
    # the inpainting run's headline numbers carry their bootstrap intervals, and the summary shows them
    for name, keys in (("rmse.json", ("interval", "psnr_interval", "ssim_interval", "masked_input_interval")),
                       ("fid.json", ("interval",)), ("kid.json", ("interval",)), ("box_kid.json", ("interval",))):
        for key in keys:
            iv = records[name][key]
            assert iv["low"] <= iv["high"] and iv["level"] == 0.95 and iv["n"] == 10, (name, key)
            assert iv["seed"] == yaml.safe_load((run / "params.yaml").read_text())["seed"], (name, key)
        r = records[name]
        assert f"| {r['metric']} | {fmt(r['value'])} [{fmt(r['interval']['low'])}, {fmt(r['interval']['high'])}]" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    linked = {(md_file.parent / link).resolve() for link in links}
    for picture in pictures(run):
        assert picture.resolve() in linked, picture
    assert all(p.is_file() for p in linked)  # every relative link resolves
    run_record = json.loads((run / "results" / EXP / "model/run.json").read_text())
    assert f"{run_record['steps']} steps of batch 4" in md and "lfw_faces" in md
    assert f"ganflow reproduce --exp {EXP}" in md and f"snakemake --cores 4 results/{EXP}/summary.md" in md
    for term, value in final_losses(pd.read_csv(run / "results" / EXP / "losses.csv")).items():
        assert term in md and f"{value:.4g}" in md


@pytest.mark.slow
def test_summary_html_embeds_every_picture_and_metric(run):
    page = (run / "results" / EXP / "summary.html").read_text()
    for picture in pictures(run):
        assert b64(picture) in page, picture
    for name, record in metric_records(run).items():
        assert all(fmt(v) in page for v in headline(record).values()) and f"{name} (everything it records)" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch: it opens offline


@pytest.mark.slow
def test_metrics_json_is_the_headline_numbers_and_all_dvc_shows(run):
    compact = json.loads((run / "results" / EXP / "metrics.json").read_text())
    expected = {k: v for r in metric_records(run).values() for k, v in headline(r).items()}
    assert compact == expected
    proc = subprocess.run(["dvc", "metrics", "show", "--json"], cwd=run, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"}, timeout=300)
    shown = json.loads(proc.stdout)  # other experiments' files are listed with an error: not run here
    files = {f: v for rev in shown.values() for f, v in rev.get("data", {}).items()}
    assert all(f.endswith("/metrics.json") or f.startswith("results/grading/") for f in files), sorted(files)
    assert files[f"results/{EXP}/metrics.json"]["data"] == expected


@pytest.mark.slow
def test_snakemake_report_embeds_every_result(run):
    report = (run / "report.html").read_text()
    for picture in pictures(run):
        assert b64(picture) in report, picture
    assert b64(run / "results" / EXP / "summary.html") in report
    for category in (EXP, "data: lfw_faces"):
        assert json.dumps(category) in report, category
    # self-contained: pictures and pages are data URIs, no result is linked from elsewhere
    assert not re.search(r"""(src|href)=["']https?://""", report)


@pytest.mark.slow
def test_compare_lists_trained_and_untrained_experiments(run, monkeypatch):
    from ganflow.cli import main as ganflow

    monkeypatch.chdir(run)
    assert ganflow(["-q", "compare"]) == 0
    table = pd.read_csv(run / "results/compare/metrics.csv")
    assert table["experiment"].tolist() == [EXP]  # pix2pix was not trained in this run
    for record in metric_records(run).values():
        for label, value in headline(record).items():
            assert table.loc[0, label] == pytest.approx(value)
    index = (run / "results/compare/index.md").read_text()
    assert "| [pix2pix](../pix2pix/summary.md) | pix2pix | lfw_faces | inpaint | not yet |" in index
    assert (run / "results/compare/losses.png").stat().st_size > 10_000
    assert (run / "results/compare/metrics.png").is_file()


# -- dvc.yaml and the report flags: fast, on the project itself ---------------------------------


def _dvc():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


def _paths(entries) -> set[str]:
    return {e if isinstance(e, str) else next(iter(e)) for e in entries or []}


def test_every_experiment_has_a_summary_and_compare_reads_it():
    stages = _dvc()["stages"]
    compare = set(stages["compare"]["deps"])
    trained = [name.split("_", 1)[1] for name in stages if name.startswith("train_")]
    assert trained, "no train_<exp> stage in dvc.yaml"
    for exp in trained:
        summary = stages.get(f"summary_{exp}")
        assert summary is not None, f"dvc.yaml: add a summary_{exp} stage (copy summary_pix2pix_tiny)"
        deps = set(summary["deps"])
        evaluated = {p for p in _paths(stages.get(f"evaluate_{exp}", {}).get("outs")) if p.endswith(".json")}
        assert evaluated <= deps, f"summary_{exp} must depend on {sorted(evaluated - deps)}"
        assert evaluated <= compare, f"compare must depend on {sorted(evaluated - compare)}"
        assert f"results/{exp}/losses.csv" in compare and f"results/{exp}/losses.csv" in deps
        assert f"results/{exp}/plots" in deps
        # evaluate (the main job's target), not summary, writes the headline numbers DVC shows
        assert _paths(stages[f"evaluate_{exp}"]["metrics"]) == {f"results/{exp}/metrics.json"}
        assert "metrics" not in summary


def test_dvc_metrics_are_short_files_only():
    """`dvc metrics show` prints every number and string of every metrics file: detailed metric
    records (hashes, paths, settings) belong in `outs` with cache: false, not in `metrics`."""
    for name, stage in _dvc()["stages"].items():
        for path in _paths(stage.get("metrics")):
            if path.startswith("results/") and path.count("/") == 2 and not path.startswith("results/grading/"):
                assert path.endswith("/metrics.json"), f"{name}: {path} under metrics; make it an out (cache: false)"


def test_every_dvc_plot_reads_files_a_stage_writes():
    dvc = _dvc()
    outs = {p for s in dvc["stages"].values() for k in ("outs", "metrics", "plots") for p in _paths(s.get(k))}
    for entry in dvc["plots"]:
        (title, spec), = entry.items()
        for f in spec["y"]:
            assert f in outs or any(f.startswith(o + "/") for o in outs), f"plot {title!r}: nothing writes {f}"


def test_report_flags_cover_summaries_plots_masks_and_compare(monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {"config": {}}  # what Snakemake gives an included file
    exec(compile((ROOT / "workflow/common.smk").read_text(), "common.smk", "exec"), namespace)
    report_for = namespace["report_for"]
    flagged = {o.path: report_for(o.path) for s in namespace["STAGES"].values() for o in s.outs if report_for(o.path)}
    for exp in (n.split("_", 1)[1] for n in namespace["STAGES"] if n.startswith("summary_")):
        assert flagged[f"results/{exp}/summary.html"]["category"] == exp
        assert flagged[f"results/{exp}/plots"]["category"] == exp
        assert flagged[f"results/{exp}/plots"]["patterns"] == ["{name,[^/]+}.png"]
    assert flagged["data/masked/lfw_faces"]["category"] == "data: lfw_faces"
    assert "results/compare" in flagged
    for settings in flagged.values():
        assert (ROOT / settings["caption"]).is_file(), settings["caption"]


# -- the pieces, with known answers ---------------------------------------------------------------


def _ema(values: list[float], span: int) -> float:
    alpha, out = 2 / (span + 1), values[0]
    for v in values[1:]:
        out = alpha * v + (1 - alpha) * out
    return out


def test_loss_helpers_order_terms_skip_blanks_and_smooth_as_an_ema(tmp_path):
    steps = np.arange(1, 101)
    losses = pd.DataFrame({"step": steps, "wall_time": steps * 0.1, "G_total": np.linspace(5, 1, 100),
                           "G_gan": np.linspace(1, 0.5, 100), "D_total": np.sin(steps) + 2, "D_real": 1.0})
    losses.loc[losses.index % 2 == 1, ["G_total", "G_gan"]] = np.nan  # G every other step (StarGAN-like)
    assert terms_by_phase(losses) == {"D": ["D_total", "D_real"], "G": ["G_total", "G_gan"]}
    final = final_losses(losses)
    g = losses["G_total"].dropna().tolist()
    assert final["G_total"] == pytest.approx(_ema(g, max(2, len(g) // 25)))
    assert final["D_total"] == pytest.approx(_ema(losses["D_total"].tolist(), 4))
    assert smooth(pd.Series([3.0] * 10)).tolist() == [3.0] * 10
    loss_curves(losses, "t", tmp_path / "a.png")
    loss_curves(losses, "t", tmp_path / "b.png", x="wall_time")
    compare_losses({"one": losses, "two": losses.assign(G_total=losses["G_total"] * 100)}, tmp_path / "c.png")
    assert all((tmp_path / f).stat().st_size > 5_000 for f in ("a.png", "b.png", "c.png"))
    with pytest.raises(ValueError, match="x must be one of"):
        loss_curves(losses, "t", tmp_path / "d.png", x="epoch")
    with pytest.raises(ValueError, match="no <phase>_<term> columns"):
        terms_by_phase(losses[["step", "wall_time"]])


def test_metric_records_are_read_generically():
    fid = {"metric": "fid", "value": 12.5, "n_real": 20, "n_fake": 20, "masked_input": 30.0, "seed": 0,
           "train_images_vs_test": {"value": 4.0, "n": 20}, "reference_set": "data/x", "reference_sha256": "ab" * 32,
           "checkpoint_sha256": "cd" * 32, "code": {"git_commit": "ef" * 20, "git_dirty": True},
           "feature_extractor": "FIDInceptionV3 pool3 (2048-d)", "reference": {"n": 20, "set": "data/x"}}
    assert headline(fid) == {"fid": 12.5}
    assert beside(fid) == {"masked_input": 30.0, "train_images_vs_test": 4.0}
    prov = provenance(fid)
    assert prov["images"] == "20 generated vs 20 real" and prov["method"].startswith("FIDInceptionV3")
    assert prov["reference"] == "data/x (sha256 abababababab)" and prov["checkpoint"] == "sha256 cdcdcdcdcdcd"
    assert prov["code"] == "efefefefefef (uncommitted changes)" and prov["seed"] == "0"
    per_direction = {"metric": "fid", "value": {"A2B": 40.0, "B2A": 50.0}, "std": 1.0}
    assert headline(per_direction) == {"fid.A2B": 40.0, "fid.B2A": 50.0}
    assert beside(per_direction) == {}


def test_progress_figure_labels_each_snapshot_with_its_step(tmp_path):
    from PIL import Image

    from ganflow.report.plots import progress_figure, snapshot_step

    assert [snapshot_step(Path(f"snapshots/step_{s:06d}.png")) for s in (100, 1000)] == [100, 1000]
    images = [np.full((8, 32), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)]
    progress_figure(images, [100, 1000, 10000], "t", tmp_path / "p.png")
    w, h = Image.open(tmp_path / "p.png").size
    assert h / w > 0.5  # three stacked panels of 1:4 images (one panel alone is ~0.29)
    with pytest.raises(ValueError, match="no snapshots"):
        progress_figure([], [], "t", tmp_path / "q.png")
    assert not (tmp_path / "q.png").exists()


def test_summary_shows_each_number_with_its_interval():
    iv = {"low": 0.031, "high": 0.046, "level": 0.95, "method": "percentile bootstrap over test images",
          "resamples": 2000, "seed": 0, "n": 20}
    rmse = {"metric": "rmse", "value": 0.039, "interval": iv, "psnr_db": 28.2,
            "psnr_interval": {**iv, "low": 26.7, "high": 30.1}, "ssim": 0.89,
            "masked_input": 0.19, "masked_input_interval": {**iv, "low": 0.178, "high": 0.202}}
    kid = {"metric": "kid", "value": 0.0021, "std": 0.0004, "interval": {**iv, "low": 0.0011, "high": 0.0042}}
    cyclegan = {"metric": "rmse", "A2B": 0.2, "directions": {"A2B": {"value": 0.2, "interval": {**iv, "low": 0.19,
                                                                                               "high": 0.22}}}}
    per_domain = {"metric": "fid", "value": {"A2B": 40.0}, "directions": {"A2B": {"interval": {**iv, "low": 38.0,
                                                                                               "high": 45.0}}}}
    rows = {r["file"]: r for r in headline_table({"rmse": rmse, "kid": kid, "cg": cyclegan, "pd": per_domain})}
    assert rows["rmse.json"]["value"] == "0.039 [0.031, 0.046]"
    assert "psnr_db 28.2 [26.7, 30.1]" in rows["rmse.json"]["beside"]
    assert "ssim 0.89," in rows["rmse.json"]["beside"] + "," and "masked_input 0.19 [0.178, 0.202]" in rows["rmse.json"]["beside"]
    assert rows["kid.json"]["value"] == "0.0021 [0.0011, 0.0042] ± 4.000e-04"
    assert "cg.json" not in rows  # no "value": no headline row; its per-direction numbers are still found
    assert interval_for(cyclegan, "A2B")["high"] == 0.22 and interval_for(cyclegan, "B2A") is None
    assert rows["pd.json"]["value"] == "40 [38, 45]"
