"""How long `ganflow grade` takes on a course-sized folder: 200 submissions of 10 images at 128 x 128.

    python benchmarks/bench_grading.py [--submissions 200] [--images 10] [--size 128] [--runs 3]
    python benchmarks/bench_grading.py --bombs      # peak memory of reading crafted files under the size limit

Builds a synthetic homework in a temporary folder (smooth faces, a fixed mouth box, the
answer_key stage's output), then a folder of submissions -- mostly honest ones of varied quality,
plus copies of one another, the masked input, constant and noise fills and a few malformed files --
and times the grade stage end to end (reading, validation, checks, every output written),
reporting the median of ``--runs`` runs beside the reading-only and scoring-only parts.
The goal in the issue: under a minute on 2 cores.

``--bombs`` writes files just under the 64 MiB size limit that are shaped to blow up a reader that
holds the file (67 M line feeds then one character; 33 M lines of "0"; one line of 67 M commas,
alone and after a valid header) and reads each in a fresh process, reporting the peak resident
memory the read added (the kernel's VmHWM, reset with /proc/self/clear_refs after the imports,
minus VmRSS before the read; Linux only) beside a valid 128 x 128 x 10 submission.
The bound it checks: under 100 MiB added for any file.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ganflow.data.images import save_image
from ganflow.params import parse_params
from ganflow.report.submission import Layout, read_submission, to_csv_text
from ganflow.stages import answer_key, grade


def face(k: int, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    img = 0.55 + 0.2 * np.sin(3 * x + k) * np.cos(2 * y + 0.5 * k)
    img -= (0.3 + 0.02 * (k % 5)) * np.exp(-(((y - 0.75) / 0.08) ** 2 + ((x - 0.5) / 0.2) ** 2))
    return np.round(np.clip(img, 0, 1) * 255) / 255


def build_homework(root: Path, n_images: int, size: int) -> tuple[list[str], np.ndarray, tuple]:
    box = (int(0.66 * size), int(0.27 * size), int(0.88 * size), int(0.73 * size))
    rows, ids = [], []
    for k in range(n_images + 20):
        split, folder = ("test", "Test") if k < n_images else ("train", "Training")
        image_id = f"face_{k:03d}"
        real = face(k, size)
        white = real.copy()
        white[box[0]:box[2], box[1]:box[3]] = 1.0
        save_image(root / "data/masked/bench" / folder / "Real" / f"{image_id}.png", real)
        save_image(root / "data/masked/bench" / folder / "White" / f"{image_id}.png", white)
        rows.append({"id": image_id, "split": split, "top": box[0], "left": box[1], "bottom": box[2],
                     "right": box[3], "method": "fixed"})
        ids += [image_id] if split == "test" else []
    pd.DataFrame(rows).to_csv(root / "data/masked/bench/boxes.csv", index=False)
    truth = np.stack([face(k, size) for k in range(n_images)])
    return ids, truth, box


def build_submissions(folder: Path, n: int, ids: list[str], truth: np.ndarray, box: tuple, seed: int = 0) -> dict:
    """n submission files. Only the lines of pixels inside the box change from one to the next, so
    building 200 files of 16,384 lines takes seconds, not minutes."""
    rng = np.random.default_rng(seed)
    size = truth.shape[1]
    top, left, bottom, right = box
    masked = truth.copy()
    masked[:, top:bottom, left:right] = 1.0
    base_lines = to_csv_text(masked, ids).splitlines()
    in_box = [r * size + c for r in range(top, bottom) for c in range(left, right)]
    region = truth[:, top:bottom, left:right].reshape(len(ids), -1).T  # (pixels in box, images)
    kinds = {}

    def write(name: str, box_values: np.ndarray | None, raw: bytes | None = None) -> None:
        path = folder / f"{name}.csv"
        if raw is not None:
            path.write_bytes(raw)
            return
        lines = base_lines.copy()
        for pixel, values in zip(in_box, np.clip(box_values, 0, 1)):
            lines[pixel + 1] = f"{pixel}," + ",".join(f"{v:.6f}" for v in values)
        path.write_text("\n".join(lines) + "\n")

    for s in range(n):
        name = f"student_{s:03d}"
        r = s % 20
        if r == 0:
            kinds[name] = "masked input"
            write(name, np.ones_like(region))
        elif r == 1:
            kinds[name] = "constant fill"
            write(name, np.full_like(region, 0.4))
        elif r == 2:
            kinds[name] = "noise fill"
            write(name, rng.random(region.shape))
        elif r == 3 and s > 20:
            kinds[name] = "copy"
            (folder / f"{name}.csv").write_bytes((folder / f"student_{s - 16:03d}.csv").read_bytes())
        elif r == 4:
            kinds[name] = "malformed"
            text = (folder / "student_000.csv").read_text().replace("\n5,", "\n5,abc,", 1)
            write(name, None, text.encode())
        else:
            kinds[name] = "honest"
            # a generator's smooth guess: the true mouth pulled towards its own mean, plus a smooth bias
            pull = rng.uniform(0.05, 0.6)
            write(name, (1 - pull) * region + pull * region.mean(axis=0) + rng.normal(0, 0.02, region.shape[1]))
    return kinds


BOMB_BOUND_MIB = 100
LIMIT = 64 * 2 ** 20

_CHILD = """
import sys
from ganflow.report.submission import Layout, read_submission

def status(key):  # kB, from the kernel's own accounting of this process
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

layout = Layout(tuple(f"face_{k:03d}" for k in range(int(sys.argv[3]))), int(sys.argv[2]), int(sys.argv[2]))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")           # reset the peak (VmHWM) to the current RSS: imports are not counted
before = status("VmRSS")
parsed = read_submission(sys.argv[1], layout, %d)
peak = status("VmHWM")
print((peak - before) / 1024, before / 1024, ";".join(f"{f.code}@{f.where}" for f in parsed.findings))
""" % LIMIT


def bombs(images: int, size: int) -> int:
    import subprocess

    ids = [f"face_{k:03d}" for k in range(images)]
    valid = to_csv_text(np.random.default_rng(0).random((images, size, size)), ids).encode()
    header = valid.split(b"\n", 1)[0] + b"\n"
    shapes = {
        "valid submission": lambda: valid,
        "67 M line feeds, then one character": lambda: b"\n" * (LIMIT - 1) + b"x",
        '33 M lines of "0"': lambda: b"0\n" * (LIMIT // 2),
        "one line of 67 M commas": lambda: b"," * LIMIT,
        "header, then a line of 67 M commas": lambda: header + b"," * (LIMIT - len(header)),
        "header, then 6.7 M short rows": lambda: header + b"1,0.5\n" * ((LIMIT - len(header)) // 6),
    }
    print(f"| file (<= {LIMIT:,} bytes) | size MiB | peak RSS added MiB | process RSS before MiB | findings |")
    print("|---|---|---|---|---|")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench_bombs_") as tmp:
        for label, make in shapes.items():
            path = Path(tmp) / "bomb.csv"
            path.write_bytes(make())
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(size), str(images)],
                                 capture_output=True, text=True, check=True).stdout.split(maxsplit=2)
            added, before, found = float(out[0]), float(out[1]), out[2].strip() if len(out) > 2 else ""
            worst = max(worst, added)
            print(f"| {label} | {path.stat().st_size / 2 ** 20:.1f} | {added:.1f} | {before:.0f} | "
                  f"{found[:70]} ({time.perf_counter() - t:.1f} s) |")
    print(f"\nbound (< {BOMB_BOUND_MIB} MiB added by any file): {'met' if worst < BOMB_BOUND_MIB else 'NOT met'} "
          f"(worst {worst:.1f} MiB)")
    return 0 if worst < BOMB_BOUND_MIB else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submissions", type=int, default=200)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bombs", action="store_true", help="peak memory of reading crafted files instead")
    args = ap.parse_args(argv)
    if args.bombs:
        return bombs(args.images, args.size)

    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="bench_grading_") as tmp:
        root = Path(tmp)
        os.chdir(root)
        try:
            t0 = time.perf_counter()
            ids, truth, box = build_homework(root, args.images, args.size)
            params = parse_params({"datasets": {"bench": {"source": "folder", "image_size": args.size}},
                                   "experiments": {}, "train": {},
                                   "grading": {"dataset": "bench", "submissions_dir": "subs", "strong_rmse": 0.02}})
            answer_key.run(params, "bench")
            (root / "subs").mkdir()
            kinds = build_submissions(root / "subs", args.submissions, ids, truth, box)
            files = sorted((root / "subs").glob("*.csv"))
            total_mb = sum(f.stat().st_size for f in files) / 2 ** 20
            print(f"built {len(files)} submissions ({total_mb:.0f} MB; "
                  f"{pd.Series(kinds).value_counts().to_dict()}) in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

            layout = Layout(tuple(ids), args.size, args.size)
            reading, whole, reading_cpu, whole_cpu = [], [], [], []
            for _ in range(args.runs):
                t, c = time.perf_counter(), time.process_time()
                for f in files:
                    read_submission(f, layout, 64 * 2 ** 20)
                reading.append(time.perf_counter() - t)
                reading_cpu.append(time.process_time() - c)
                t, c = time.perf_counter(), time.process_time()
                grade.run(params)
                whole.append(time.perf_counter() - t)
                whole_cpu.append(time.process_time() - c)
            board = pd.read_csv(root / "results/grading/leaderboard.csv")
            statuses = board["status"].value_counts().to_dict()
        finally:
            os.chdir(here)

    import torch  # only to report the thread count the machine offers

    print(f"\ngrading {args.submissions} submissions x {args.images} images of {args.size} x {args.size} "
          f"({total_mb:.0f} MB of CSV), {args.runs} runs, {os.cpu_count()} CPUs visible, "
          f"torch threads {torch.get_num_threads()}")
    print(f"leaderboard statuses: {statuses}\n")
    # CPU seconds beside wall seconds: on a shared machine the wall clock also counts other people's work.
    print(f"| {'part':<28} | {'median s':>9} | {'min s':>7} | {'max s':>7} | {'per file ms':>11} | {'CPU s (median)':>14} |")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 13}|{'-' * 16}|")
    for label, times, cpu in (("read + validate every file", reading, reading_cpu),
                              ("ganflow grade, end to end", whole, whole_cpu)):
        med = statistics.median(times)
        print(f"| {label:<28} | {med:>9.2f} | {min(times):>7.2f} | {max(times):>7.2f} | "
              f"{1000 * med / args.submissions:>11.1f} | {statistics.median(cpu):>14.2f} |")
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    goal = statistics.median(whole) < 60
    print(f"\ngoal (< 60 s end to end): {'met' if goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
