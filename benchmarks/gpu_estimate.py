"""On-paper images/s of each experiment's training step on one GPU: an estimate, not a measurement.

    python benchmarks/gpu_estimate.py                      # A100 bf16, 30% of peak, 8 us a launch
    python benchmarks/gpu_estimate.py --peak-tflops 989 --fraction 0.4 --launch-us 6   # an H100 SXM

For every experiment in params.yaml, one train_step at its params.yaml size and batch is run on the
CPU under two counters: torch's FlopCounterMode (convolution and matmul FLOPs, forward and
backward) and a dispatch-level count of the aten operations executed, each of which is one or
more GPU kernels. A step then costs at least max(FLOPs / (fraction x peak), ops x launch time):
arithmetic-bound networks are limited by the first, the small ones by the launches (eager PyTorch
pays roughly 5-10 us of CPU time per op; CUDA graphs or torch.compile cut that term). The data path
must deliver the printed images/s as well. Every number printed is derived, none measured on a
GPU (this machine has none): label it an estimate wherever it is quoted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import ROOT, _build, _synthetic  # noqa: E402  (the benchmark's own builders)


class OpCounter(TorchDispatchMode):
    """Counts the aten operations a region runs (views and metadata ops included: an upper bound
    on kernel launches, which is the side an estimate of launch cost should err on)."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def step_cost(exp: str) -> tuple[str, int, float, int]:
    """(shape, batch, GFLOP per step, aten ops per step) of one train_step of ``exp``."""
    from ganflow.train.step import train_step
    model, task, info, batch_size, _, _ = _build(exp)
    batch = _synthetic(task, info, batch_size, None)
    model.train()
    train_step(model, batch, 0)  # the first step builds optimiser state: count a steady one
    counter = OpCounter()
    try:
        with FlopCounterMode(display=False) as flops, counter:
            train_step(model, batch, 1)
        gflop = flops.get_total_flops() / 1e9
    except RuntimeError:  # FlopCounterMode cannot follow autograd.grad (WGAN-GP's gradient penalty)
        with counter:
            train_step(model, batch, 1)
        gflop = float("nan")
    return f"{batch_size}x{info.channels}x{info.image_size}", batch_size, gflop, counter.ops


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peak-tflops", type=float, default=312.0, help="dense bf16 peak (A100: 312)")
    ap.add_argument("--fraction", type=float, default=0.3, help="fraction of peak the convolutions reach")
    ap.add_argument("--launch-us", type=float, default=8.0, help="host time per eager op, microseconds")
    ap.add_argument("--exp", action="append", help="experiments (default: every one in params.yaml)")
    a = ap.parse_args(argv)
    from ganflow.params import load_params
    torch.manual_seed(0)
    exps = a.exp or list(load_params(ROOT / "params.yaml").experiments)
    print(f"ESTIMATE (not measured): {a.fraction:.0%} of {a.peak_tflops:g} TFLOPS, {a.launch_us:g} us per op\n")
    print(f"{'experiment':<20} {'batch':>12} {'GFLOP/step':>11} {'ops/step':>9} {'compute ms':>11} "
          f"{'launch ms':>10} {'bound':>8} {'images/s':>9}")
    for exp in exps:
        shape, n, gflop, ops = step_cost(exp)
        compute_ms = gflop / (a.fraction * a.peak_tflops * 1e3) * 1e3 if gflop == gflop else float("nan")
        launch_ms = ops * a.launch_us / 1e3
        step_ms = max(launch_ms, compute_ms) if compute_ms == compute_ms else launch_ms
        bound = "launch" if launch_ms >= (compute_ms if compute_ms == compute_ms else 0) else "compute"
        print(f"{exp:<20} {shape:>12} {gflop:11.2f} {ops:9d} {compute_ms:11.3f} {launch_ms:10.2f} {bound:>8} "
              f"{n / step_ms * 1e3:9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
