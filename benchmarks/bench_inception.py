"""The FID Inception as published against the folded network evaluate runs, side by side.

    python benchmarks/bench_inception.py                        # batch 25, 64 px inputs, 5 repeats
    python benchmarks/bench_inception.py --batch-size 10 --threads 1

Both networks carry the weights of data/weights/fid_inception.pt (`ganflow weights` puts them
there; without it, the same architecture with seeded random weights, which times the same).
"published" is FIDInceptionV3 as loaded: NCHW, a batch norm after each of its 94 convolutions.
"folded" is what evaluate and `ganflow fid` run (FIDInceptionV3.fold_for_inference_): each batch
norm folded into its convolution's weights and bias, NHWC (channels_last) layout.  The two run
alternately on the same batch, so a change in the machine's load hits both; the table gives
median seconds per batch, images/s and the ratio, and the largest relative difference of the
two networks' pool3 features on that batch.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganflow.machine import numerics  # noqa: E402
from ganflow.metrics.inception import FIDInceptionV3, load_fid_inception  # noqa: E402


def networks() -> tuple[FIDInceptionV3, FIDInceptionV3, str]:
    weights = ROOT / "data" / "weights" / "fid_inception.pt"
    if weights.is_file():
        published, source = load_fid_inception(weights), str(weights)
    else:
        torch.manual_seed(0)
        published, source = FIDInceptionV3().eval(), "random weights (no data/weights/fid_inception.pt)"
    return published, copy.deepcopy(published).fold_for_inference_(), source


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=25, help="images per batch (evaluate.batch_size: 25)")
    ap.add_argument("--size", type=int, default=64, help="input size before the resize to 299 (default 64)")
    ap.add_argument("--repeats", type=int, default=5, help="timed batches per network (default 5)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    published, folded, source = networks()
    x = torch.rand(args.batch_size, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {"published": [], "folded": []}
    with torch.inference_mode():
        a, b = published(x), folded(x)  # warm-up (oneDNN picks its kernels), and the features compared
        rel = float(((a - b).abs().max() / a.abs().max()).item())
        for _ in range(args.repeats):
            for name, net in (("published", published), ("folded", folded)):
                t0 = time.perf_counter()
                net(x)
                times[name].append(time.perf_counter() - t0)
    m = numerics()
    print(f"FID Inception, batch {args.batch_size} of {args.size} px -> 299 px, {torch.get_num_threads()} thread(s), "
          f"median of {args.repeats}; {m.get('cpu_model')}, {m.get('isa')}, torch {torch.__version__}; {source}\n")
    print(f"{'network':<10} {'s/batch':>9} {'min-max':>13} {'images/s':>9} {'vs published':>13}")
    base = statistics.median(times["published"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<10} {med:>9.3f} {min(ts):>6.2f}-{max(ts):<6.2f} {args.batch_size / med:>9.2f} {base / med:>12.2f}x")
    print(f"\nlargest feature difference, folded vs published: {rel:.1e} of the largest feature")
    return 0


if __name__ == "__main__":
    sys.exit(main())
