"""benchmarks/gpu_estimate.py: its counters count what they say, and the script runs on params.yaml."""
from __future__ import annotations

import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_estimate  # noqa: E402


def test_the_op_counter_counts_each_aten_call():
    x = torch.ones(4)
    with gpu_estimate.OpCounter() as c:
        y = x + 1
        y.mul_(2)
    assert c.ops == 2 and y.tolist() == [4.0] * 4


def test_the_estimate_is_bound_by_the_larger_of_compute_and_launches(capsys):
    # dcgan's step: a few GFLOP, hundreds of ops; at 1 TFLOPS x 100% the compute term is ~1.6 ms,
    # at 0.001 us a launch the launch term is ~0: the step must be compute-bound, and the other way round.
    assert gpu_estimate.main(["--exp", "dcgan", "--peak-tflops", "1", "--fraction", "1", "--launch-us", "0.001"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split()
    assert row[0] == "dcgan" and float(row[2]) > 0 and int(row[3]) > 100 and row[6] == "compute"
    step_ms = float(row[4])
    assert float(row[7]) == pytest.approx(64 / step_ms * 1e3, rel=1e-3)  # images/s from the batch of 64
    gpu_estimate.main(["--exp", "dcgan", "--launch-us", "100"])
    assert capsys.readouterr().out.splitlines()[-1].split()[6] == "launch"
