"""Peak memory of `evaluate` (dcgan's unconditional task) as the sets grow: ganflow's streaming
evaluation, and optionally another ganflow source tree (e.g. the pre-streaming code) side by side.

    python benchmarks/bench_eval_memory.py --train 50000 --test 10000 --samples 10000 --size 64
    python benchmarks/bench_eval_memory.py --train 20000 --samples 4000 --other-src /tmp/old/src
    python benchmarks/bench_eval_memory.py --train 300 --test 100 --samples 200 --extractor inception

A synthetic data set is written once per size (--workdir keeps it between runs): data/pairs/bench/
with manifest.csv and train/test PNGs (smooth random RGB images), and results/bench/samples/
outputs.npz with the generated images (a stand-in checkpoint: evaluate only hashes it).  Each
evaluate runs in its own child process; the table gives the child's peak resident set size
(ru_maxrss) and wall time, next to the bytes the images would take stacked in float32.

--extractor stub: one 8 x 8 / stride 8 convolution to 2048 channels (pool3's width) stands in for
the Inception, so a 50,000-image run fits a small CPU; what it measures is the evaluation's own
memory (pixels, 2048-d features, statistics, distances), without the network's activations.  --extractor inception: the FIDInceptionV3 architecture (its
weights from data/weights when `ganflow weights` put them there, else random: the memory is the
same); run it at a small size to get the network's own, size-independent share.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, resource, sys, time
import torch, yaml
from ganflow.params import parse_params
from ganflow.stages import evaluate
from ganflow.stages.tasks import common

kind = sys.argv[1]
if kind == "stub":
    class Stub(torch.nn.Module):
        def __init__(self):
            super().__init__(); torch.manual_seed(0)
            # pool3's width, so that features, statistics and distances take what the Inception's would
            self.conv = torch.nn.Conv2d(1, 2048, 8, stride=8); self.with_logits = False
        def forward(self, x):
            return torch.relu(self.conv(x.mean(dim=1, keepdim=True))).mean(dim=(2, 3))
    net = Stub()
    common._extractor = lambda: net
else:
    from ganflow.metrics.inception import FIDInceptionV3
    from ganflow.stages import paths
    if not paths.fid_weights_file().is_file():
        net = FIDInceptionV3(with_logits=False).eval().fold_for_inference_()  # as evaluate runs the real one
        common._extractor = lambda: net
t0 = time.perf_counter()
params = parse_params(yaml.safe_load(open("params.yaml")))
evaluate.run(params, "bench", threads=1)
fid = json.load(open("results/bench/fid.json"))
print("RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "fid": fid["value"], "n_fake": fid["n_fake"],
                              "n_real": fid["n_real"],
                              "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def smooth_images(n: int, size: int, seed: int, offset: float = 0.0) -> np.ndarray:
    """n RGB images in [0, 1]: 8 x 8 random colours upsampled (compress like photos, not noise)."""
    rng = np.random.default_rng(seed)
    low = np.clip(rng.random((n, 8, 8, 3), dtype=np.float32) + offset, 0, 1)
    rep = size // 8
    return np.repeat(np.repeat(low, rep, axis=1), rep, axis=2)


def build(work: Path, n_train: int, n_test: int, n_samples: int, size: int, src: Path) -> None:
    sys.path.insert(0, str(src))
    from ganflow.data.images import save_image
    from ganflow.data.npz_stream import NpzStreamWriter

    pairs = work / "data" / "pairs" / "bench"
    done = pairs / "built.json"
    want = {"train": n_train, "test": n_test, "samples": n_samples, "size": size}
    if done.is_file() and json.loads(done.read_text()) == want:
        return
    rows = []
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        (pairs / split).mkdir(parents=True, exist_ok=True)
        for start in range(0, n, 1000):
            for i, img in enumerate(smooth_images(min(1000, n - start), size, seed * 10**6 + start), start):
                rel = f"{split}/{i:06d}.png"
                save_image(pairs / rel, img)
                rows.append(f"{split}_{i:06d},{split},{rel}")
    (pairs / "manifest.csv").write_text("id,split,image\n" + "\n".join(rows) + "\n")
    (pairs / "dataset.json").write_text(json.dumps({"layout": "single", "image_size": size}))
    samples = work / "results" / "bench" / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    with NpzStreamWriter(samples / "outputs.npz") as w:
        w.add("ids", np.array([f"sample_{i:05d}" for i in range(n_samples)]))
        w.begin("images", n_samples, (size, size, 3), np.float32)
        for start in range(0, n_samples, 1000):
            w.append(smooth_images(min(1000, n_samples - start), size, 7 * 10**6 + start, offset=0.1))
        w.add("z", np.zeros((n_samples, 4), np.float32))
    model = work / "results" / "bench" / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "run.json").write_text(json.dumps({"seed": 0}))
    (model / "checkpoint.pt").write_bytes(b"stand-in checkpoint: evaluate hashes it")
    weights = work / "data" / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    if not (weights / "fid_inception.json").is_file():
        (weights / "fid_inception.json").write_text(json.dumps({"sha256": "-", "source_sha256": "-",
                                                                 "source_kind": "benchmark stand-in"}))
    raw = {"datasets": {"bench": {"source": "sklearn_digits", "image_size": size}},
           "experiments": {"bench": {"model": "dcgan", "dataset": "bench", "task": "unconditional"}},
           "train": {"bench": {"steps": 1}}, "grading": {"strong_rmse": 0.1, "dataset": "bench"}, "evaluate": {"device": "cpu"}}
    import yaml

    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    done.write_text(json.dumps(want))


def measure(work: Path, src: Path, extractor: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    for cache in (work / "data" / "refstats",):  # every run computes its reference statistics
        if cache.is_dir():
            for f in cache.glob("*.npz"):
                f.unlink()
    out = subprocess.run([sys.executable, "-c", CHILD, extractor], cwd=work, env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"evaluate failed under {src}:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=50000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--extractor", choices=("stub", "inception"), default="stub")
    ap.add_argument("--other-src", type=Path, help="another ganflow src/ to measure side by side")
    ap.add_argument("--workdir", type=Path, help="keep the synthetic data set here (default: a temp dir)")
    args = ap.parse_args(argv)

    src = ROOT / "src"
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        build(work, args.train, args.test, args.samples, args.size, src)
        print(f"bench_eval_memory: train {args.train}, test {args.test}, samples {args.samples}, {args.size} px RGB, "
              f"extractor {args.extractor} (data ready in {time.perf_counter() - t0:.0f} s)", flush=True)
        stacked = (args.train + args.test + args.samples) * args.size * args.size * 3 * 4 / 2**20
        runs = [("ganflow (this tree)", src)] + ([("other tree", args.other_src)] if args.other_src else [])
        results = [(name, measure(work, s, args.extractor)) for name, s in runs]
    print(f"\n{'code':22s} {'peak RSS MB':>12s} {'seconds':>9s} {'FID':>12s} {'n_fake':>7s} {'n_real':>7s}"
          f"   (all images stacked as float32: {stacked:,.0f} MB)")
    for name, r in results:
        print(f"{name:22s} {r['maxrss_mb']:12,.0f} {r['seconds']:9.1f} {r['fid']:12.6f} {r['n_fake']:7d} {r['n_real']:7d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
