"""What two processes can gain over one on this machine, for pair's own kind of work.

    python benchmarks/bench_cores.py                 # 400 images per process, 5 rounds
    python benchmarks/bench_cores.py --images 200 --rounds 3

pair's speed-up with 2 workers (benchmarks/bench_scale.py) is bounded by the machine before it is
bounded by pair: two virtual CPUs that share a physical core, memory bandwidth or a turbo budget
give each process less than a whole core when both are busy.  This script measures that ceiling
with no pool, no pipe and no shared files: each process, started with the same inputs, decodes
the same CelebA-sized JPEGs (178 x 218, benchmarks/bench_scale.py's synthetic faces), crops,
resizes to 64 px and encodes PNGs in memory, as pair does per image.  One round times one
process alone, then two at once (alternately, so load changes hit both); the table gives images
per second, median over rounds, and the ratio

    ceiling = (2 processes' images / s) / (1 process's images / s)

which is what a perfectly parallel pair could reach here.  Run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ganflow.data.images import resize, to_uint8
from ganflow.data.parallel import keep_freed_memory
from ganflow.data.layouts import centre_square

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import synthetic_image  # noqa: E402  (the same synthetic faces bench_scale pairs)


def jpeg_bytes(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        buf = io.BytesIO()
        synthetic_image(i).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def per_image_work(data: bytes) -> int:
    """pair's per-image steps, in memory: decode to float32, pair's centre square crop and its
    float bicubic resize to 64 px (data/layouts.py, data/images.py), 8-bit rounding, PNG encoding."""
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255.0
    small = to_uint8(resize(centre_square(arr)[0], 64))
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG")
    return len(buf.getvalue())


def worker(images: list[bytes], start, done) -> None:
    keep_freed_memory()  # as pair's workers do (data/parallel.py), else page faults dominate
    start.wait()
    t0 = time.perf_counter()
    for data in images:
        per_image_work(data)
    done.put(time.perf_counter() - t0)


def timed(images: list[bytes], n_procs: int) -> float:
    """Images per second of n_procs processes each doing the whole list at the same time."""
    ctx = mp.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(images, start, done)) for _ in range(n_procs)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every process finish importing before the clock starts
    start.set()
    seconds = [done.get() for _ in procs]
    for p in procs:
        p.join()
    return n_procs * len(images) / max(seconds)


def measure(images: list[bytes], rounds: int) -> dict[int, list[float]]:
    """{processes: images/s per round} for 1 and 2 processes, alternated round by round."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for n in (1, 2):
            rates[n].append(timed(images, n))
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400, help="images each process works through per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    rates = measure(jpeg_bytes(args.images), args.rounds)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"{os.cpu_count()} CPUs seen; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{'processes':>9} | {'images/s (median)':>17} | rounds")
    print(f"{1:>9} | {one:>17.1f} | {', '.join(f'{r:.1f}' for r in rates[1])}")
    print(f"{2:>9} | {two:>17.1f} | {', '.join(f'{r:.1f}' for r in rates[2])}")
    print(f"ceiling: 2 processes / 1 = {two / one:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
