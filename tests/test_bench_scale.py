"""benchmarks/bench_scale.py: the params it writes are ones ganflow accepts, carry the protocol
asked for (FID sample count, reference split, data store), and its pair-only run agrees with itself."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import benchmark

from ganflow.params import load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    return benchmark("bench_scale")


def test_default_protocol_keeps_params_defaults(bench, tmp_path):
    bench.write_params(tmp_path, tmp_path / "images", steps=5)
    p = load_params(tmp_path / "params.yaml")
    assert p.sample.n_generated == 1000 and p.evaluate.n_samples is None
    assert p.evaluate.reference == "test"
    assert p.train["dcgan"].data == "disk" and p.train["dcgan"].steps == 5


def test_fid_protocol_flags_reach_sample_and_evaluate(bench, tmp_path):
    bench.write_params(tmp_path, tmp_path / "images", steps=5, fid_samples=10000, reference="train", data="auto")
    p = load_params(tmp_path / "params.yaml")
    assert p.sample.n_generated == 10000 and p.evaluate.n_samples == 10000
    assert p.evaluate.reference == "train"
    assert p.train["dcgan"].data == "auto"


def test_synthetic_images_differ_and_have_celeba_size(bench):
    a, b = bench.synthetic_image(0), bench.synthetic_image(1)
    assert a.size == b.size == (178, 218) and a.mode == "RGB"
    assert a.tobytes() != b.tobytes()
    assert bench.synthetic_image(0).tobytes() == a.tobytes()   # seeded


def test_pair_only_run_prints_its_table(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--n", "24",
                          "--repeats", "1", "--upto", "pair", "--ceiling-images", "4"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pair (2 workers)" in out.stdout and "pair N=24: 1 worker" in out.stdout
    assert "of this machine's 2-process ceiling" in out.stdout and "2-process ceiling: " in out.stdout


def test_core_ceiling_bench_runs_pairs_work(capsys):
    import io
    cores = benchmark("bench_cores")   # its spawned processes import it by name

    from PIL import Image
    data = cores.jpeg_bytes(2)
    assert Image.open(io.BytesIO(data[0])).size == (178, 218)
    assert cores.per_image_work(data[0]) > 0
    assert cores.main(["--images", "4", "--rounds", "1"]) == 0
    assert "ceiling: 2 processes / 1 = " in capsys.readouterr().out
