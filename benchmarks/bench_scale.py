"""The pipeline at scale: N synthetic CelebA-like images through the CLI, stage by stage.

    python benchmarks/bench_scale.py                    # N = 2000, 10000, 50000
    python benchmarks/bench_scale.py --n 2000 --steps 20
    python benchmarks/bench_scale.py --n 2000 --keep    # keep the project folders (path printed)
    python benchmarks/bench_scale.py --n 10000 --fid-samples 10000 --reference train   # a standard FID protocol

For each N it builds, in a temporary project folder, N seeded 178 x 218 RGB JPEGs (CelebA's
size: smooth random blobs plus pixel noise, no two alike) and a params.yaml with one data set
(source image_folder, image_size 64) and one DCGAN experiment on it, then runs the stages as
the orchestrators do, each as its own `python -m ganflow.cli` process on this checkout's code:

    fetch; pair --workers 1 and --workers 2, alternately, --repeats times each (every run's
    file hashes must agree); weights, train (--steps), sample, evaluate

Each pair run's output is moved aside, not deleted, until the benchmark ends: ext4 passes over
inodes freed in the last 30 seconds when it allocates new ones, so a run started right after
50,000 files were deleted spent a third of its time in the kernel (perf: recently_deleted under
ext4_create) and measured the file system's bookkeeping, not pair.

mask is left out: it paints mouths of detected faces, and these images have none.

Columns: wall seconds of the stage's process; its CPU seconds (user + system, its workers
included: on a machine shared with other jobs, wall time says little about the work); peak RSS, the largest resident set of any one
process of the stage (os.wait4's ru_maxrss: the stage's process or, for pair, its largest
worker; not their sum), in MB.  pair's wall time is the median of its runs; the other stages run
once.  The last lines give pair's 1-worker median time over its 2-worker one, beside what two
processes can gain over one on this machine at all (benchmarks/bench_cores.py, measured in the
same run: two virtual CPUs may share one physical core).
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 178, 218   # CelebA's aligned crops
DATASET, EXP = "synthetic", "dcgan"


def synthetic_image(i: int, seed: int = 0) -> Image.Image:
    """Image i: a smooth colour field (a coarse random grid upsampled), a few soft ellipses and
    pixel noise, so JPEG sizes and decode costs are like photographs', not like flat colour."""
    rng = np.random.default_rng([seed, i])
    coarse = rng.random((6, 5, 3)).astype(np.float32)
    field = np.stack([np.asarray(Image.fromarray(coarse[..., c], mode="F").resize((WIDTH, HEIGHT), Image.BICUBIC))
                      for c in range(3)], axis=2)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    for _ in range(rng.integers(2, 6)):
        cy, cx = rng.uniform(0, HEIGHT), rng.uniform(0, WIDTH)
        ry, rx = rng.uniform(10, 60), rng.uniform(10, 60)
        blob = np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2))
        field += blob[..., None] * (rng.random(3).astype(np.float32) - 0.5)
    field += rng.normal(0, 0.03, field.shape).astype(np.float32)
    return Image.fromarray((np.clip(field, 0, 1) * 255).astype(np.uint8), mode="RGB")


def _write_one(args: tuple[Path, int]) -> None:
    folder, i = args
    synthetic_image(i).save(folder / f"{i:06d}.jpg", quality=90)


def make_images(folder: Path, n: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(folder, i) for i in range(start, n)]
    with mp.get_context("spawn").Pool() as pool:
        for _ in pool.imap_unordered(_write_one, todo, chunksize=64):
            pass


def write_params(project: Path, images: Path, steps: int, fid_samples: int | None = None,
                 reference: str = "test", data: str = "disk") -> None:
    """One data set, one DCGAN on it.  fid_samples: images drawn by sample and scored by evaluate
    (sample.n_generated and evaluate.n_samples; None keeps params.yaml's defaults); reference: the
    real split FID is computed against; data: train.<exp>.data (disk: batches read from the pairs,
    so the training process's memory does not grow with N)."""
    params = {
        "seed": 0,
        "datasets": {DATASET: {"source": "image_folder", "image_size": 64, "test_fraction": 0.2, "split_seed": 0,
                               "options": {"path": str(images)}}},
        "experiments": {EXP: {"model": "dcgan", "dataset": DATASET}},
        "train": {EXP: {"steps": steps, "batch_size": 64, "log_every": max(1, steps // 10), "data": data,
                        "snapshot_every": steps, "checkpoint_every": steps, "augment_flip": True,
                        "net": {"z_dim": 100, "ngf": 32, "ndf": 32}}},
        "evaluate": {"reference": reference},
    }
    if fid_samples is not None:
        params["sample"] = {"n_generated": fid_samples}
        params["evaluate"]["n_samples"] = fid_samples
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(project: Path, args: list[str], log: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of `ganflow <args>` in project (CPU: user + system
    of the process and the workers it waited for); raises with its log on failure."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TQDM_DISABLE": "1"}
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "ganflow.cli", *args], cwd=project, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"ganflow {' '.join(args)} failed ({proc.returncode}); its log, {log}:\n"
                           + log.read_text()[-3000:])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: kilobytes


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def bench(n: int, images: Path, work: Path, steps: int, repeats: int, upto: str,
          fid_samples: int | None = None, reference: str = "test", data: str = "disk") -> list[tuple[str, int, float, float, float]]:
    project = work / f"n{n}"
    project.mkdir()
    subset = project / "images"   # this N's images: hard links to the first n of the shared set
    subset.mkdir()
    for i in range(n):
        os.link(images / f"{i:06d}.jpg", subset / f"{i:06d}.jpg")
    write_params(project, subset, steps, fid_samples, reference, data)
    logs = project / "logs"
    logs.mkdir()
    rows = []

    def stage(name: str, *args: str) -> None:
        wall, cpu, rss = run_stage(project, list(args), logs / f"{name.replace(' ', '_')}.log")
        rows.append((name, n, wall, cpu, rss))
        print(f"  {name:<18} {wall:8.1f} s {cpu:8.1f} cpu s {rss:8.0f} MB", flush=True)

    stage("fetch", "fetch", "--dataset", DATASET)
    pairs = project / "data" / "pairs" / DATASET
    timed: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    first = None
    aside = project / "earlier_pairs"   # earlier runs' outputs: deleted with the project, after timing
    aside.mkdir()
    for run in range(repeats):  # 1 and 2 workers alternately, so a change in the machine's load hits both
        for workers in (1, 2):
            if pairs.exists():
                os.replace(pairs, aside / f"run{run}_w{workers}")
            timed[workers].append(run_stage(project, ["pair", "--dataset", DATASET, "--workers", str(workers)],
                                            logs / f"pair_{workers}.log"))
            hashes = tree_hashes(pairs)
            first = first or hashes
            if hashes != first:
                raise RuntimeError(f"N={n}: pair with {workers} worker(s) wrote other files than before ({pairs})")
    for workers, runs in timed.items():
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        rows.append((f"pair ({workers} worker{'s' if workers > 1 else ''})", n, wall, cpu, max(r[2] for r in runs)))
        print(f"  {rows[-1][0]:<18} {wall:8.1f} s {cpu:8.1f} cpu s {rows[-1][4]:8.0f} MB  (median of {repeats}: "
              f"{', '.join(f'{r[0]:.1f}' for r in runs)})", flush=True)
    if upto == "pair":
        return rows
    stage("weights", "weights")
    stage("train", "train", "--exp", EXP)
    stage("sample", "sample", "--exp", EXP)
    stage("evaluate", "evaluate", "--exp", EXP)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 10000, 50000], help="data set sizes")
    ap.add_argument("--steps", type=int, default=20, help="DCGAN training steps (batch 64)")
    ap.add_argument("--repeats", type=int, default=3, help="pair runs per worker count (the median is shown)")
    ap.add_argument("--upto", choices=["pair", "evaluate"], default="evaluate", help="last stage to run")
    ap.add_argument("--fid-samples", type=int, default=None,
                    help="images sample draws and evaluate scores (default: params.yaml's, 1,000)")
    ap.add_argument("--reference", choices=["test", "train"], default="test",
                    help="the real split FID is computed against")
    ap.add_argument("--data", choices=["disk", "memory", "auto"], default="disk",
                    help="train.<exp>.data: where training batches come from")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project folders")
    ap.add_argument("--ceiling-images", type=int, default=300,
                    help="images per process for the machine's 2-process ceiling (bench_cores.py)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ganflow-scale-"))
    rows = []
    try:
        images = work / "images"
        t0 = time.perf_counter()
        make_images(images, max(args.n))
        print(f"{max(args.n)} synthetic {WIDTH}x{HEIGHT} JPEGs in {time.perf_counter() - t0:.0f} s "
              f"({os.cpu_count()} cores seen); projects under {work}", flush=True)
        for n in sorted(args.n):
            print(f"N = {n}", flush=True)
            rows += bench(n, images, work, args.steps, args.repeats, args.upto,
                          args.fid_samples, args.reference, args.data)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'stage':<18} {'N':>7} {'wall s':>9} {'CPU s':>9} {'peak RSS MB':>12}")
    for name, n, wall, cpu, rss in rows:
        print(f"{name:<18} {n:>7} {wall:>9.1f} {cpu:>9.1f} {rss:>12.0f}")
    print()
    ceiling = core_ceiling(args.ceiling_images)
    for n in sorted(args.n):
        t = {name: wall for name, m, wall, _, _ in rows if m == n}
        ratio = t['pair (1 worker)'] / t['pair (2 workers)']
        print(f"pair N={n}: 1 worker {t['pair (1 worker)']:.1f} s / 2 workers {t['pair (2 workers)']:.1f} s "
              f"= {ratio:.2f}x ({ratio / ceiling:.0%} of this machine's 2-process ceiling)")
    print(f"2-process ceiling: {ceiling:.2f}x (bench_cores.py, {args.ceiling_images} images per process, "
          f"median of 3 rounds)")
    return 0


def core_ceiling(images: int, rounds: int = 3) -> float:
    """bench_cores.py's ratio: two processes' images/s over one's, for pair's per-image work."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_cores

    rates = bench_cores.measure(bench_cores.jpeg_bytes(images), rounds)
    return statistics.median(rates[2]) / statistics.median(rates[1])


if __name__ == "__main__":
    sys.exit(main())
