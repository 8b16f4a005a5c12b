"""Calibrate grading's fill / near-copy distances on real generator outputs.

    python benchmarks/calibrate_integrity.py [--exp pix2pix pix2pix_tiny] [--extra DIR ...]

Needs `ganflow answer_key --dataset lfw_faces` and each experiment's `ganflow sample` (the
generator outputs, results/<exp>/samples/outputs.npz).  ``--extra`` adds other workspaces'
outputs (e.g. the same experiments trained with other seeds) as fresh, uncalibrated outputs.

For every family of no-learning fill, and for the answer key, it prints the smallest normalised
distance (report/fills.py) of any generator image (calibration outputs: each experiment with and
without added noise of std 1/255, 2/255 and 0.01), and the largest distance of any crafted
no-generator submission of that family; a threshold between the two separates them.  Then it
applies the thresholds in defaults.yaml (grading.fill_tol, key_tol, twin_tol) and reports the
false-positive rate over the calibration outputs and over the fresh ones.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

from ganflow.params import load_params
from ganflow.report import fills as F
from ganflow.stages import answer_key, grade


def load_key(dataset: str):
    import json

    import pandas as pd

    from ganflow.report.submission import Layout
    kdir = answer_key.key_dir(dataset)
    meta = json.loads((kdir / "key.json").read_text())
    layout = Layout.from_dict(meta["layout"])
    key = grade._read_key(kdir, "answer_key.csv", layout)
    masked = grade._read_key(kdir, "masked_inputs.csv", layout)
    frame = pd.read_csv(kdir / "boxes.csv").set_index("id")
    boxes = [tuple(int(v) for v in frame.loc[i, answer_key.BOX_COLUMNS]) for i in layout.ids]
    stored = np.load(kdir / "fills.npz")
    fills = {k: stored[k] for k in stored.files if k != "training_real"}
    return list(layout.ids), key, masked, boxes, fills, stored["training_real"] / 255.0


def outputs(root: Path, exp: str, ids: list[str]) -> np.ndarray:
    d = np.load(root / "results" / exp / "samples" / "outputs.npz")
    pos = {str(i): k for k, i in enumerate(d["ids"])}
    return d["final"][[pos[i] for i in ids]].astype(np.float64)


def crafted(key, masked, boxes, fills, rng) -> dict[str, tuple[str, np.ndarray]]:
    """Submissions a student could make without a generator: name -> (family it should match, images)."""
    def in_box(base, make):
        out = base.copy()
        for k, (t, l, b, r) in enumerate(boxes):
            out[k, t:b, l:r] = np.clip(make(k, out[k, t:b, l:r]), 0, 1)
        return out

    c = {name: (name, f.astype(np.float64)) for name, f in fills.items()}
    c["plane + noise 2/255"] = ("any_plane", in_box(fills["border_plane"].astype(np.float64),
                                                  lambda k, x: x + rng.normal(0, 2 / 255, x.shape)))
    c["grey 0.45 + noise 2/255"] = ("any_constant", in_box(masked, lambda k, x: 0.45 + rng.normal(0, 2 / 255, x.shape)))
    c["border mean + uniform 0.1"] = ("any_constant", in_box(fills["border_mean"].astype(np.float64),
                                                            lambda k, x: x + rng.uniform(-0.1, 0.1, x.shape)))
    c["checkerboard +-0.06"] = ("any_constant", in_box(fills["border_mean"].astype(np.float64),
                                                      lambda k, x: x + 0.06 * (2 * (np.indices(x.shape).sum(0) % 2) - 1)))
    c["biharmonic + noise 2/255"] = ("biharmonic", in_box(fills["biharmonic"].astype(np.float64),
                                                         lambda k, x: x + rng.normal(0, 2 / 255, x.shape)))
    c["mean face + noise 2/255"] = ("mean_face", in_box(fills["mean_face"].astype(np.float64),
                                                       lambda k, x: x + rng.normal(0, 2 / 255, x.shape)))
    c["masked, blurred"] = ("masked_input", np.stack([gaussian_filter(m, 1.0) for m in masked]))
    c["masked, one grey pixel"] = ("masked_input", in_box(masked, lambda k, x: np.where(
        np.arange(x.size).reshape(x.shape) == x.size // 2, 0.5, x)))
    c["1 - |noise 0.05|"] = ("any_constant", in_box(masked, lambda k, x: 1 - np.abs(rng.normal(0, 0.05, x.shape))))
    c["key, one pixel"] = ("key", in_box(key, lambda k, x: np.where(np.arange(x.size).reshape(x.shape) == 3, 0.0, x)))
    c["key + noise 0.01"] = ("key", in_box(key, lambda k, x: x + rng.normal(0, 0.01, x.shape)))
    half = np.stack([np.clip(zoom(zoom(im, 0.5, order=1), 2, order=1)[:im.shape[0], :im.shape[1]], 0, 1) for im in key])
    c["key at half resolution"] = ("key", in_box(key, lambda k, x: half[k][boxes[k][0]:boxes[k][2], boxes[k][1]:boxes[k][3]]))
    return c


def distances(images, key, masked, boxes, fills, train) -> list[dict[str, float]]:
    rows = []
    for k, box in enumerate(boxes):
        s = F.scale(masked[k], key[k], box)
        d = F.fill_distances(images[k], box, {n: f[k] for n, f in fills.items()}, train, s)
        d["key"] = F.box_distance(images[k], key[k], box) / s
        rows.append(d)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exp", nargs="+", default=["pix2pix", "pix2pix_tiny"])
    ap.add_argument("--extra", nargs="*", default=[], type=Path, help="workspaces with the same experiments")
    args = ap.parse_args(argv)
    params = load_params()
    g = params.grading
    ids, key, masked, boxes, fills, train = load_key(g.dataset)
    rng = np.random.default_rng(0)

    calib = {}
    for exp in args.exp:
        out = outputs(Path("."), exp, ids)
        calib[exp] = out
        for std in (1 / 255, 2 / 255, 0.01):
            calib[f"{exp} + noise {std:.3g}"] = np.clip(out + rng.normal(0, std, out.shape), 0, 1)
    fresh = {f"{root.name}/{exp}": outputs(root, exp, ids) for root in args.extra for exp in args.exp
             if (root / "results" / exp / "samples" / "outputs.npz").exists()}
    gen_d = {name: distances(im, key, masked, boxes, fills, train) for name, im in calib.items()}
    fresh_d = {name: distances(im, key, masked, boxes, fills, train) for name, im in fresh.items()}
    cheats = crafted(key, masked, boxes, fills, rng)
    cheat_d = {name: (fam, distances(im, key, masked, boxes, fills, train)) for name, (fam, im) in cheats.items()}

    families = list(gen_d[next(iter(gen_d))][0])

    def tol(family: str) -> float:
        return {"key": g.key_tol, "masked_input": g.masked_tol}.get(family, g.fill_tol)
    print("| family | generator images: min distance (which) | 5th percentile | fresh seeds: min | "
          "crafted: max distance of its own family |")
    print("|---|---|---|---|---|")
    for fam in families:
        vals = [(r[fam], name) for name, rows in gen_d.items() for r in rows]
        lo = min(vals)
        own = [max(r[fam] for r in rows) for f, rows in cheat_d.values() if f == fam]
        fresh_lo = min((r[fam] for rows in fresh_d.values() for r in rows), default=float("nan"))
        print(f"| {fam} | {lo[0]:.4f} ({lo[1]}) | {np.percentile([v for v, _ in vals], 5):.4f} | {fresh_lo:.4f} | "
              f"{', '.join(f'{v:.4f}' for v in own) or '-'} |")

    def twin(a, b):
        return float(np.sqrt(np.mean([(F.box_distance(a[k], b[k], box) / F.scale(masked[k], key[k], box)) ** 2
                                      for k, box in enumerate(boxes)])))

    distinct = {**{e: calib[e] for e in args.exp}, **fresh}
    pairs = [(twin(distinct[a], distinct[b]), a, b) for i, a in enumerate(distinct) for b in list(distinct)[i + 1:]]
    if pairs:
        lo = min(pairs)
        print(f"\ntwins: closest pair of distinct generators {lo[0]:.4f} ({lo[1]} / {lo[2]}) over {len(pairs)} pairs")
    first = calib[args.exp[0]]
    one_px = first.copy()
    t, l, b, r = boxes[0]
    one_px[0, t, l] = 1 - one_px[0, t, l]
    noisy = np.clip(first + rng.normal(0, 1 / 255, first.shape), 0, 1)
    print(f"twins: {args.exp[0]} vs itself with one pixel changed {twin(first, one_px):.4f}, "
          f"with noise 1/255 {twin(first, noisy):.4f}; twin_tol {g.twin_tol}")

    print(f"\nthresholds: fill_tol {g.fill_tol}, masked_tol {g.masked_tol}, key_tol {g.key_tol}")
    for label, dd in (("calibration", gen_d), ("fresh", fresh_d)):
        n_img = sum(len(rows) for rows in dd.values())
        fills_hit = sum(any(r[f] <= tol(f) for f in families if f != "key") for rows in dd.values() for r in rows)
        key_hit = sum(r["key"] <= g.key_tol for rows in dd.values() for r in rows)
        print(f"{label}: {len(dd)} output sets, {n_img} images: flagged as a fill {fills_hit} "
              f"({fills_hit / max(n_img, 1):.1%}), as the key {key_hit} ({key_hit / max(n_img, 1):.1%})")
    missed = {name: sum(r[fam] > tol(fam) for r in rows)
              for name, (fam, rows) in cheat_d.items()}
    print(f"crafted submissions: images not flagged by their own family: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
