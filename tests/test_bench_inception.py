"""benchmarks/bench_inception.py runs and prints both networks, their ratio and their difference."""
from conftest import benchmark


def test_bench_inception_prints_both_networks(capsys):
    bench = benchmark("bench_inception")
    assert bench.main(["--batch-size", "1", "--size", "8", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("published", "folded"))}
    assert set(rows) == {"published", "folded"} and rows["published"][-1] == "1.00x"
    difference = float(out.split("largest feature difference, folded vs published: ")[1].split()[0])
    assert difference < 1e-5  # the folded network computes the same features
