"""How much of pix2pix_tiny's training step is oneDNN's kernels, and how much is everything around them.

    python benchmarks/onednn_share.py                 # 1 and 2 threads, 20 steps each
    python benchmarks/onednn_share.py --threads 2 --steps 50

For each thread count it runs ganflow's train_step on the tiny pix2pix (params.yaml's size,
batch 16, synthetic batches) in a child process with ONEDNN_VERBOSE=1, which makes oneDNN print
one line per primitive it executes with that primitive's own run time.  The table sums those
times per kind of primitive (convolution forward, backward data, backward weights, transposed
convolution, reorders between memory layouts) per step, beside the step's wall time measured
in a second child without the verbose output (printing slows the step, not the kernels).
"Outside oneDNN" is the rest: Python, autograd, PyTorch's dispatch and its oneDNN glue, batch
norm, the elementwise ops and the optimiser.  It is why faster kernels alone cannot double this
step: halve every oneDNN primitive and the step shrinks by the kernels' share over two.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "ganflow-timed-steps-begin"

CHILD = r"""
import sys, time, torch
from ganflow.models.base import DataInfo
from ganflow.models.pix2pix_tiny import Pix2PixTiny, Pix2PixTinyConfig
from ganflow.params import load_params
from ganflow.train.step import train_step
threads, steps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
p = load_params(sys.argv[3])
size = p.dataset(p.experiment("pix2pix_tiny").dataset).image_size
g = torch.Generator().manual_seed(0)
batch = {k: torch.rand(16, 1, size, size, generator=g) * 2 - 1 for k in "AB"}
torch.manual_seed(0)
model = Pix2PixTiny(Pix2PixTinyConfig(), DataInfo(1, size), 2e-4, (0.5, 0.999)).train()
for _ in range(5):
    train_step(model, batch, 0)
print("MARK", flush=True)
t0 = time.perf_counter()
for _ in range(steps):
    train_step(model, batch, 0)
print("WALL_MS", (time.perf_counter() - t0) / steps * 1e3, flush=True)
""".replace("MARK", MARK)


def _child(threads: int, steps: int, verbose: bool) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
    if verbose:
        env["ONEDNN_VERBOSE"] = "1"
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(steps), str(ROOT / "params.yaml")],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the timed child ({threads} threads) failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout


def kernel_ms(verbose_log: str, steps: int) -> dict[str, float]:
    """{primitive kind: ms per step} from oneDNN verbose lines after the mark.  An exec line reads
    onednn_verbose,v1,primitive,exec,cpu,<kind>,<impl>,<prop_kind>,...,<ms>."""
    totals: dict[str, float] = defaultdict(float)
    timed = False
    for line in verbose_log.splitlines():
        if line.startswith(MARK):
            timed = True
        fields = line.split(",")
        if not timed or len(fields) < 8 or fields[2:4] != ["primitive", "exec"]:
            continue
        kind, prop = fields[5], fields[7]
        name = {"convolution": f"convolution {prop}", "deconvolution": f"transposed convolution {prop}"}.get(kind, kind)
        totals[name] += float(fields[-1])
    return {k: v / steps for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def wall_ms(log: str) -> float:
    return float(next(line.split()[1] for line in log.splitlines() if line.startswith("WALL_MS")))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    for threads in args.threads:
        kernels = kernel_ms(_child(threads, args.steps, verbose=True), args.steps)
        step = wall_ms(_child(threads, args.steps, verbose=False))
        inside = sum(kernels.values())
        print(f"\npix2pix_tiny train_step, batch 16, {threads} thread(s), mean of {args.steps} steps: {step:.2f} ms/step")
        print(f"  {'oneDNN primitive':<42} {'ms/step':>8} {'of step':>8}")
        for name, ms in kernels.items():
            print(f"  {name:<42} {ms:8.2f} {ms / step:8.1%}")
        print(f"  {'all oneDNN primitives':<42} {inside:8.2f} {inside / step:8.1%}")
        print(f"  {'outside oneDNN':<42} {step - inside:8.2f} {(step - inside) / step:8.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
