"""The disk store's delivery rate beside what a DCGAN train_step consumes, at 64 px, batch 64.

    python benchmarks/bench_loader.py                     # 2048 PNGs, medians of 5 rounds
    python benchmarks/bench_loader.py --n 512 --repeats 3 # a quick check

A synthetic data/pairs-style folder (manifest.csv + train/<id>.png, 64x64 RGB: a smooth
gradient plus noise, so that PNG has real work to decode) is made in a temporary directory.

Table 1, delivery: images per second that BatchStream hands out (flip on, as the training
default) from the in-memory tensors, and from the DiskStore with 0, 1 and 2 DataLoader workers;
beside it, the consumption rate of ganflow.train.step.train_step on a DCGAN (models/dcgan.py,
default config) at the same batch: 64 / (median seconds per step).  ratio = delivery / consumption.

Table 2, fed: images per second of train_step steps that take their batch from each source --
the loader and the step share the same cores here, which table 1 does not show.

Every round measures every contender once, the order rotated each round, so that a change in the
machine's load hits all of them alike; each number is the median over rounds.  Batches are timed
after a warm-up batch (worker start-up is not counted).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganflow.data.stores import DiskStore, ImageColumn
from ganflow.data.tensors import BatchStream, to_tensor
from ganflow.data.images import load_image
from ganflow.models.base import DataInfo
from ganflow.models.dcgan import DCGAN
from ganflow.train.step import train_step

SIZE = 64


def make_folder(root: Path, n: int) -> list[Path]:
    """n 64x64 RGB PNGs in data/pairs layout (manifest.csv: id, split, image)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, SIZE)[None, :, None] + np.linspace(0, 55, SIZE)[:, None, None]
    (root / "train").mkdir(parents=True)
    lines, files = ["id,split,image"], []
    for k in range(n):
        img = np.clip(ramp + rng.normal(0, 12, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        path = root / "train" / f"img{k:06d}.png"
        Image.fromarray(img).save(path)
        lines.append(f"img{k:06d},train,train/{path.name}")
        files.append(path)
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return files


def delivery(stream: BatchStream, batches: int) -> float:
    """Images per second over ``batches`` batches (after the first, which starts the workers)."""
    next(stream)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * stream.batch_size / (time.perf_counter() - t0)


def fed(model, stream: BatchStream, steps: int) -> float:
    """Images per second of train_step steps that take each batch from ``stream``."""
    train_step(model, next(stream), 0)
    t0 = time.perf_counter()
    for s in range(steps):
        train_step(model, next(stream), s + 1)
    return steps * stream.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2048, help="PNGs in the synthetic folder")
    ap.add_argument("--batch", type=int, default=64)
    # Well above workers x prefetch (2 per worker): else a timing only drains the queue filled before it.
    ap.add_argument("--batches", type=int, default=24, help="batches delivered per contender per round")
    ap.add_argument("--steps", type=int, default=3, help="train_step steps timed per contender per round")
    ap.add_argument("--repeats", type=int, default=5, help="rounds; each number is their median")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the training process")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--no-fed", action="store_true", help="skip table 2 (the slow one: it runs train_step)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        files = make_folder(Path(tmp), args.n)
        tensors = {"x": to_tensor([load_image(p) for p in files])}
        torch.manual_seed(0)
        model = DCGAN(DCGAN.Config(), DataInfo(channels=3, image_size=SIZE), 2e-4, (0.5, 0.999))

        def stream(workers: int | None) -> BatchStream:
            source = tensors if workers is None else DiskStore({"x": ImageColumn(files)})
            return BatchStream(source, args.batch, seed=0, flip=True, workers=workers or 0)

        names = ["memory"] + [f"disk, {w} workers" for w in args.workers]
        kinds = [None] + list(args.workers)
        streams = {name: stream(kind) for name, kind in zip(names, kinds)}
        rates = {name: [] for name in names}
        feds = {name: [] for name in names}
        consume = []
        batch = next(streams["memory"])
        train_step(model, batch, 0)  # warm-up
        for r in range(args.repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                rates[name].append(delivery(streams[name], args.batches))
            times = []
            for s in range(args.steps):
                t0 = time.perf_counter()
                train_step(model, batch, s)
                times.append(time.perf_counter() - t0)
            consume.append(args.batch / statistics.median(times))
            for name in order if not args.no_fed else ():
                feds[name].append(fed(model, streams[name], args.steps))
        for s in streams.values():
            s.close()

    c = statistics.median(consume)
    print(f"{args.n} PNGs {SIZE}x{SIZE} RGB, batch {args.batch}, flip on; torch threads {args.threads}; "
          f"medians of {args.repeats} rounds of {args.batches} batches ({args.steps} steps); "
          f"{__import__('os').cpu_count()} CPUs, load average {__import__('os').getloadavg()[0]:.1f}\n")
    print("| source | delivery (images/s) | DCGAN train_step consumes (images/s) | delivery / consumption |")
    print("| --- | ---: | ---: | ---: |")
    for name in names:
        d = statistics.median(rates[name])
        print(f"| {name} | {d:,.0f} | {c:,.0f} | {d / c:.1f}x |")
    if args.no_fed:
        return
    print("\n| train_step fed by | images/s | vs memory |")
    print("| --- | ---: | ---: |")
    base = statistics.median(feds["memory"])
    for name in names:
        f = statistics.median(feds[name])
        print(f"| {name} | {f:,.0f} | {f / base:.2f} |")


if __name__ == "__main__":
    main()
