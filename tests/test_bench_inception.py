"""benchmarks/bench_inception.py runs and prints both networks, their ratio and their difference."""
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inception.py"


def test_bench_inception_prints_both_networks(capsys):
    spec = importlib.util.spec_from_file_location("bench_inception", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--batch-size", "1", "--size", "8", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("published", "folded"))}
    assert set(rows) == {"published", "folded"} and rows["published"][-1] == "1.00x"
    difference = float(out.split("largest feature difference, folded vs published: ")[1].split()[0])
    assert difference < 1e-5  # the folded network computes the same features
