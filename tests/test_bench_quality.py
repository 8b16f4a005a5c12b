"""benchmarks/bench_quality.py: its table against the metric files it reads (--reuse on files
written here), so the table cannot drift from what the evaluate stage writes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import benchmark

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    return benchmark("bench_quality")


def write(folder: Path, **files: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, doc in files.items():
        (folder / f"{stem}.json").write_text(json.dumps(doc))


def table_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """{(experiment, metric): {column: cell}} from the printed Markdown table."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        row = dict(zip(header, cells))
        rows[(row["experiment"], row["metric"])] = row
    return rows


def dcgan_seed(fid: float, hist: list[int]) -> dict:
    return {"fid": {"metric": "fid", "value": fid, "n_fake": sum(hist), "train_images_vs_test": {"value": 3.0}},
            "classifier": {"class_histogram": hist, "is_max": len(hist), "missing_classes": []}}


def test_reuse_table_matches_the_files(bench, tmp_path, monkeypatch, capsys):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    # dcgan: two seeds in the benchmark's own folders; the 5% rule and the missing class from the histograms
    h0 = [100, 30, 120, 100, 100, 100, 100, 150, 100, 100]   # class 1: 30 of 1000 = 3% (rare)
    h1 = [0, 100, 100, 100, 100, 100, 100, 200, 100, 100]    # class 0 never produced
    fids = [41.5, 47.25]
    write(Path("results/bench_quality/dcgan/seed_0"), **dcgan_seed(fids[0], h0))
    write(Path("results/bench_quality/dcgan/seed_1"), **dcgan_seed(fids[1], h1))
    # cgan: the pipeline's own run; its accuracy beside chance
    write(Path("results/cgan"), fid={"value": 30.0, "n_fake": 1000},
          classifier={"accuracy": 0.08, "is_max": 10, "class_histogram": [100] * 10})
    # pix2pix_sketches (paired): rmse beside its baselines, losing to one
    write(Path("results/pix2pix_sketches"),
          rmse={"value": 0.20, "baselines": {"input_as_is": {"rmse": 0.30}, "mean_target": {"rmse": 0.15}}},
          fid={"value": 90.0, "n_fake": 125})
    assert bench.main(["--reuse", "--seeds", "2", "--exp", "dcgan", "--exp", "cgan",
                       "--exp", "pix2pix_sketches", "--exp", "text2img"]) == 0
    rows = table_rows(capsys.readouterr().out)

    d = rows[("dcgan", "fid")]
    mean, std = np.mean(fids), np.std(fids, ddof=1)
    assert d["value"] == f"{mean:.4g} ± {std:.2g}"
    assert d["seeds"] == "2"
    assert d["FID (n)"] == f"{mean:.4g} ± {std:.2g} (n = 1000)"
    rarest = [min(h) / sum(h) * 100 for h in (h0, h1)]
    assert d["coverage"] == (f"missing [0]; rare (<5%) [1]; rarest {np.mean(rarest):.3g} ± "
                             f"{np.std(rarest, ddof=1):.2g}%")
    assert d["beats every baseline"].startswith("n/a")

    c = rows[("cgan", "fid")]
    assert c["seeds"] == "1" and c["value"] == "30"
    assert c["accuracy"] == "class 0.08"
    assert c["baselines (no learning)"] == "accuracy: chance (1/classes) 0.1"
    assert c["beats every baseline"] == "no: loses to accuracy: chance (1/classes)"  # 0.08 < 1/10

    p = rows[("pix2pix_sketches", "rmse")]
    assert p["value"] == "0.2"
    assert p["baselines (no learning)"] == "input_as_is 0.3; mean_target 0.15"
    assert p["beats every baseline"] == "no: loses to mean_target"
    assert p["FID (n)"] == "90 (n = 125)"

    assert rows[("text2img", "not run")]["value"] == ""  # no files: a row that says so


def test_unpaired_rows_per_direction_and_wins(bench):
    files = {"rmse": {"directions": {"A2B": {"value": 0.1, "input_as_is": 0.3, "mean_target": 0.2},
                                     "B2A": {"value": None}}},
             "fid": {"directions": {"A2B": {"value": 20.0, "input_as_is": 50.0, "n_fake": 60},
                                    "B2A": {"value": 70.0, "input_as_is": 40.0, "n_fake": 60}}}}
    rows = {r["metric"]: r for r in bench.quality_rows("cyclegan", "unpaired", [files])}
    assert rows["rmse A2B"]["beats every baseline"] == "yes"
    # no truth pairs for B2A: its headline falls back to FID, which loses to the untranslated input
    assert rows["fid B2A"]["value"] == "70"
    assert rows["fid B2A"]["beats every baseline"] == "no: loses to input_as_is"
    assert rows["fid B2A"]["FID (n)"] == "A2B 20 (n = 60); B2A 70 (n = 60)"


def domains_seed(value: float, per: dict[str, tuple[float, int]]) -> dict:
    """stargan's files as evaluate (stages/tasks/domains.py) writes them: the untranslated inputs'
    rate and the FID's n per target domain only."""
    return {"domain_accuracy": {"value": value, "per_domain": {
                d: {"accuracy": value, "n": n, "input_as_is": a} for d, (a, n) in per.items()}},
            "fid": {"value": 10.0, "per_domain": {d: {"value": 10.0, "input_as_is": 50.0, "n_real": 7, "n_fake": n}
                                                  for d, (_, n) in per.items()}}}


def test_a_shared_value_has_zero_spread(bench):
    # 1/10 three times: numpy's std is about 1.7e-17, which the table printed as "± 1.7e-17"
    assert bench.spread([0.1, 0.1, 0.1]) == (pytest.approx(0.1), 0.0)
    assert bench.mean_std_text([1 / 10] * 3, 3) == "0.1 ± 0"


def test_domains_higher_is_better(bench):
    per = {"0": (0.0, 30), "1": (0.5, 10)}  # pooled over the 40 inputs: (0 * 30 + 0.5 * 10) / 40
    files = [domains_seed(v, per) for v in (0.9, 0.7)]
    (row,) = bench.quality_rows("stargan", "domains", files)
    assert row["value"] == f"0.8 ± {np.std([0.9, 0.7], ddof=1):.2g}"
    assert row["baselines (no learning)"] == f"input_as_is {5 / 40:.4g} ± 0"  # the same inputs every seed
    assert row["beats every baseline"] == "yes"
    assert row["accuracy"] == f"domain 0.8 ± {np.std([0.9, 0.7], ddof=1):.2g}"
    assert row["FID (n)"] == "10 ± 0 (n = 40)"
    worse = [domains_seed(0.1, per)]
    assert bench.quality_rows("stargan", "domains", worse)[0]["beats every baseline"] == "no: loses to input_as_is"


def test_unknown_experiment_is_named(bench, tmp_path, monkeypatch, capsys):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--reuse", "--exp", "nope"]) == 1
    assert "nope" in capsys.readouterr().err


def test_training_budget_from_the_run_records(bench):
    """steps x batch and the training's wall time (mean ± std), threads and dtype, from run.json."""
    def run(seconds):
        return {"steps": 3000, "params": {"train": {"batch_size": 64}}, "wall_time_s": seconds, "threads": 1,
                "amp_dtype": "bfloat16"}
    seeds = [{**dcgan_seed(40.0, [100] * 10), "run": run(s)} for s in (100.0, 110.0, 120.0)]
    row = bench.quality_rows("dcgan", "unconditional", seeds)[0]
    assert row["training budget"] == "3,000 steps x 64; 110 ± 10 s (1 thread(s), bfloat16)"
    # A seed folder without a run record (the pipeline's own results/<exp>/): no budget claimed.
    assert bench.quality_rows("dcgan", "unconditional", [dcgan_seed(40.0, [100] * 10)])[0]["training budget"] == ""


def test_label_preservation_as_evaluate_writes_it(bench):
    """The label accuracy per direction is read from the record label_preservation.py writes
    (directions.<d>.accuracy, with the mean target image's rate as its no-learning baseline)."""
    def seed(a2b, b2a):
        return {"fid": {"directions": {d: {"value": 80.0, "input_as_is": 280.0, "n_fake": 359} for d in ("A2B", "B2A")}},
                "label_preservation": {"metric": "label_preservation", "value": {"A2B": a2b, "B2A": b2a},
                                       "directions": {d: {"accuracy": v, "n": 359, "input_as_is": {"accuracy": 0.99},
                                                          "mean_target": {"accuracy": 0.1, "class": 1}}
                                                      for d, v in (("A2B", a2b), ("B2A", b2a))}}}
    rows = bench.quality_rows("cyclegan", "unpaired", [seed(0.85, 0.87), seed(0.87, 0.89)])
    row = rows[0]
    assert row["accuracy"] == "label A2B 0.86 ± 0.014; B2A 0.88 ± 0.014"
    assert "label A2B: mean target 0.1 ± 0" in row["baselines (no learning)"]
    assert row["beats every baseline"] == "yes"
    worse = bench.quality_rows("cyclegan", "unpaired", [seed(0.05, 0.87)])[0]
    assert worse["beats every baseline"] == "no: loses to label A2B: mean target"
