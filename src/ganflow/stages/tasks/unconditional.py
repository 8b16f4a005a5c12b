"""Unconditional generation (dcgan): noise in, images out, judged against the real test images.

Also the home of what the labelled and captioned tasks share: reading a data/pairs/<dataset>/
split, running a generator in batches, writing samples/, FID against the test split (with the
training images' own FID as the floor), and the pictures (progress over training, latent
interpolation, latent arithmetic).

  train     {"x": training images in [-1, 1]}
  sample    sample.n_generated images from z ~ N(0, I): samples/<id>.png + outputs.npz
            (ids, images float32 [0, 1], z)
  evaluate  fid.json: samples vs the test split; for a labelled data set also classifier.json
            (domain-classifier IS and class histogram: mode coverage)
  plot      samples.png, progress.png, interpolation.png, arithmetic.png (+ arithmetic.json)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import atomic_path, write_json
from ganflow.data.images import ImageError, load_image, save_image
from ganflow.data.tensors import to_images, to_tensor
from ganflow.errors import DataError, MissingInputError
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.provenance import hash_tree
from ganflow.stages import paths
from ganflow.stages.tasks.common import (
    classifier_record,
    fid_record,
    fid_value,
    generated_set,
    inception_features,
    reference_set,
    run_provenance,
    write_metric,
    write_sample_metrics,
)

# The stage graph's view of this task (stages/graph.py wires the stages from these):
DATASET_INPUTS = ("pairs",)  # per-dataset artifacts its stages read (pairs, masked, text_encoder)
METRICS = ("fid", "precision_recall", "memorisation")  # evaluate's files: results/<exp>/<metric>.json
SCORED_BY_CLASSIFIER = True  # on a labelled data set, evaluate also reads its domain classifier
EXPORTS_SUBMISSION = False  # `ganflow export` writes the course's submission CSV
EVALUATE_READS = ()  # params sections evaluate reads beyond evaluate, seed and the experiment's own

# The plot stage draws the training snapshots (one fixed noise batch) under this name and title.
PROGRESS_PICTURE = ("progress.png", "the same noise through training")
N_GRID = 64           # samples shown in samples.png
N_INTERP_ROWS = 6     # pairs of end points in interpolation.png
N_INTERP_STEPS = 10
N_ARITH_AVG = 8       # latents averaged per attribute end ("a few samples per attribute")
N_ARITH_ROWS = 6

# -- reading data/pairs/<dataset>/ ----------------------------------------------------------------


def read_meta(dataset: str) -> dict:
    path = paths.pairs_dir(dataset) / "dataset.json"
    if not path.is_file():
        raise MissingInputError(f"{path} is missing; run `ganflow pair --dataset {dataset}` first")
    return json.loads(path.read_text())


def read_split(dataset: str, split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(manifest rows, images [0, 1] (N, H, W) or (N, H, W, 3)) of one split; errors name the file."""
    folder = paths.pairs_dir(dataset)
    manifest_file = folder / "manifest.csv"
    if not manifest_file.is_file():
        raise MissingInputError(f"{manifest_file} is missing; run `ganflow pair --dataset {dataset}` first")
    manifest = pd.read_csv(manifest_file)
    missing = [c for c in ("id", "split", "image") if c not in manifest.columns]
    if missing:
        raise DataError(f"{manifest_file}: missing column(s) {missing}; has {list(manifest.columns)}")
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"{manifest_file}: no rows with split {split!r}")
    try:
        images = np.stack([load_image(folder / rel) for rel in rows["image"]])
    except (ImageError, FileNotFoundError) as e:
        raise DataError(f"{manifest_file}: {e}") from None
    return rows, images


def labels_of(rows: pd.DataFrame, dataset: str, n_classes: int) -> np.ndarray:
    """The label column as int64 in 0..n_classes-1, or a DataError naming the first bad row."""
    where = paths.pairs_dir(dataset) / "manifest.csv"
    if "label" not in rows.columns:
        raise DataError(f"{where}: no 'label' column; this task needs a labelled data set")
    labels = pd.to_numeric(rows["label"], errors="coerce")
    bad = labels.isna() | (labels % 1 != 0) | (labels < 0) | (labels >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{where}: id {rows['id'][i]}: label {rows['label'][i]!r} is not an integer in "
                         f"0..{n_classes - 1}")
    return labels.to_numpy(np.int64).copy()  # writable: torch.from_numpy shares it


def split_captions(rows: pd.DataFrame, dataset: str) -> list[list[str]]:
    """Each row's captions (the manifest joins them with ' | ')."""
    where = paths.pairs_dir(dataset) / "manifest.csv"
    if "captions" not in rows.columns:
        raise DataError(f"{where}: no 'captions' column; this task needs a captioned data set")
    out = []
    for image_id, text in zip(rows["id"], rows["captions"]):
        caps = [c.strip() for c in str(text).split("|") if c.strip()] if isinstance(text, str) else []
        if not caps:
            raise DataError(f"{where}: id {image_id}: no captions")
        out.append(caps)
    return out


def classes_of(meta: dict, dataset: str) -> list[str]:
    classes = meta.get("classes")
    if not isinstance(classes, list) or len(classes) < 2:
        raise DataError(f"{paths.pairs_dir(dataset) / 'dataset.json'}: needs 'classes' (>= 2 names); "
                         f"layout {meta.get('layout')!r} is not labelled")
    return classes


# -- running the generator -----------------------------------------------------------------------


@torch.no_grad()
def run_generator(model, device: torch.device, inputs: dict[str, torch.Tensor], batch_size: int) -> np.ndarray:
    """[0, 1] images (N, H, W[, 3]) from model.generate over ``inputs`` cut into batches."""
    n = len(next(iter(inputs.values())))
    out = [model.generate({k: v[i:i + batch_size].to(device) for k, v in inputs.items()}).cpu()
           for i in range(0, n, batch_size)]
    return np.stack(to_images(torch.cat(out)))


def write_samples(out_dir: Path, ids: list[str], images: np.ndarray, **arrays) -> None:
    for image_id, img in zip(ids, images):
        save_image(out_dir / f"{image_id}.png", img)
    np.savez_compressed(out_dir / "outputs.npz", ids=np.array(ids), images=images.astype(np.float32), **arrays)


def load_outputs(exp: str) -> dict[str, np.ndarray]:
    path = paths.samples_dir(exp) / "outputs.npz"
    if not path.is_file():
        raise MissingInputError(f"{path} is missing; run `ganflow sample --exp {exp}` first")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def z_dim_of(model) -> int:
    return int(model.cfg.z_dim)


# -- the four task functions ---------------------------------------------------------------------


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    _, images = read_split(dataset, "train")
    x = to_tensor(list(images))
    return paths.pairs_dir(dataset), {"x": x}, DataInfo(channels=x.shape[1], image_size=meta["image_size"])


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    n = params.sample.n_generated
    z = torch.randn(n, z_dim_of(model))
    images = run_generator(model, device, {"z": z}, params.sample.batch_size)
    write_samples(out_dir, [f"sample_{i:05d}" for i in range(n)], images, z=z.numpy())


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    out = load_outputs(exp)
    common = metric_common(exp, dataset)
    fid = write_fid(params, exp, dataset, out["images"], common)
    line = f"evaluate: {exp}: fid {fid['value']:.2f} (n_fake {fid['n_fake']}, n_real {fid['n_real']}; " \
           f"training images score {fid['train_images_vs_test']['value']:.2f})"
    if "classes" in read_meta(dataset):  # labelled data: the domain classifier sees which digits G draws
        rec = classifier_record(params, dataset, out["images"])
        write_metric(exp, "classifier", {**rec, **common})
        line += f"; classifier IS {rec['is_mean']:.2f}, missing classes {rec['missing_classes']}"
    print(line)


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    out = load_outputs(exp)
    model = trained_model(params, exp)
    save_sample_grid(out_dir / "samples.png", out["images"][:N_GRID])
    z = torch.from_numpy(out["z"])
    ends = z[: 2 * N_INTERP_ROWS].reshape(N_INTERP_ROWS, 2, -1)
    rows = [run_generator(model, torch.device("cpu"), {"z": slerp(a, b, N_INTERP_STEPS)}, N_INTERP_STEPS)
            for a, b in ends]
    titled_grid(out_dir / "interpolation.png", rows, f"{exp}: spherical interpolation between two z (left to right)")
    latent_arithmetic(model, z, out["images"], {}, out_dir, exp)


# -- shared evaluation pieces --------------------------------------------------------------------


def metric_common(exp: str, dataset: str) -> dict:
    return {"dataset": dataset, "samples_sha256": hash_tree(paths.samples_dir(exp) / "outputs.npz"),
            **run_provenance(exp)}


def fid_of_one_image(mu: np.ndarray, sigma: np.ndarray, features: np.ndarray) -> float:
    """FID of a set that is one image repeated: its covariance is 0, so FID = |mu_r - x|^2 + tr(S_r)
    (independent of how many copies: no sampling bias to correct)."""
    gap = np.asarray(mu, np.float64) - np.asarray(features, np.float64)
    return float(gap @ gap + np.trace(np.asarray(sigma, np.float64)))


def write_fid(params: Params, exp: str, dataset: str, images: np.ndarray, common: dict) -> dict:
    """fid.json: the samples against the test split, beside the training images' own score.

    FID's bias grows as n shrinks, so the floor is computed at the generated count (a seeded
    subset of the training split when it is larger): a generator that matched the data
    perfectly would score about that much against this test set.  The mean training image,
    repeated, is the no-learning baseline a generator must beat.
    """
    pairs = paths.pairs_dir(dataset)
    _, test = read_split(dataset, "test")
    _, train = read_split(dataset, "train")
    real = reference_set(params, test, f"{pairs}/test")
    fake = generated_set(params, images, f"samples of {exp}")
    n = min(len(train), len(images))
    pick = np.sort(np.random.default_rng(params.seed).choice(len(train), n, replace=False))
    floor = reference_set(params, train[pick], f"{pairs}/train ({n} of {len(train)}, seed {params.seed})")
    mean_image = inception_features(params, np.ascontiguousarray(train.mean(axis=0, keepdims=True)))[0]
    record = {**fid_record(real, fake, seed=params.seed), "train_images_vs_test": {
        "value": fid_value(real, floor), "n": n, "set": floor.describe(),
        "meaning": "real training images scored like the samples: the floor a perfect generator would reach"},
        # The no-learning baseline: total collapse onto the average digit / face.
        "mean_training_image": fid_of_one_image(real.stats.mu, real.stats.sigma, mean_image),
        "baseline_definitions": {"mean_training_image": "every sample the mean training image (no learning)"},
        **common}
    write_metric(exp, "fid", record)
    train_set = reference_set(params, train, f"{pairs}/train")
    write_sample_metrics(params, exp, real, fake, train_set, train, images, common)
    return record


# -- pictures ------------------------------------------------------------------------------------


def trained_model(params: Params, exp: str):
    from ganflow.stages.train import load_trained

    model, _ = load_trained(params, exp, torch.device("cpu"))
    return model


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation: stays at the norm Gaussian z's have, where a straight line would
    pass through the low-norm middle that G rarely saw (White 2016)."""
    t = torch.linspace(0, 1, steps)[:, None]
    omega = torch.arccos(torch.clamp(torch.dot(a / a.norm(), b / b.norm()), -1.0, 1.0))
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def save_sample_grid(path: Path, images: np.ndarray) -> None:
    from ganflow.report.grids import save_grid

    save_grid(path, list(images), ncols=int(np.ceil(np.sqrt(len(images)))), scale=2)


def titled_grid(path: Path, rows: list, title: str, row_labels: list[str] | None = None,
                col_labels: list[str] | None = None, cell: float = 0.8) -> None:
    """Rows of [0, 1] images (lists or arrays; None leaves a cell blank) as one labelled figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nr, nc = len(rows), max(len(r) for r in rows)
    left = 1.3 if row_labels else 0.1
    fig, axes = plt.subplots(nr, nc, figsize=(nc * cell + left, nr * cell + 0.7), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(nc):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            img = row[c] if c < len(row) else None
            if img is None:
                ax.axis("off")
                continue
            ax.imshow(img, cmap="gray" if np.ndim(img) == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            if r == 0 and col_labels:
                ax.set_title(col_labels[c], fontsize=7)
            if c == 0 and row_labels:
                ax.set_ylabel(row_labels[r], fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def ink(images: np.ndarray) -> np.ndarray:
    """Mean intensity per image: for white-on-black digits the amount of ink (bolder, bigger);
    for faces the brightness."""
    return images.reshape(len(images), -1).mean(1)


def latent_arithmetic(model, z: torch.Tensor, images: np.ndarray, cond: dict[str, torch.Tensor],
                      out_dir: Path, exp: str, groups: np.ndarray | None = None) -> dict:
    """The course's vector arithmetic with averaged latents, on a property read off the samples.

    The N_ARITH_AVG samples with the most and the least ink give z_hi and z_lo (means of their
    z); the direction d = z_hi - z_lo is added to and subtracted from other samples' z, each
    keeping its own condition (class or caption).  arithmetic.json says whether ink moved the
    way d points, measured on the new images.  With ``groups`` (the class of each sample) ink is
    counted relative to its class's mean, so that d is a style, not "an 8 rather than a 1".
    """
    score = ink(images)
    if groups is not None:
        for g in np.unique(groups):
            score[groups == g] -= score[groups == g].mean()
    order = np.argsort(score)
    k = min(N_ARITH_AVG, max(1, (len(z) - 1) // 3))  # leave at least a third of the samples as bases
    lo, hi = order[:k], order[-k:]
    d = z[hi].mean(0) - z[lo].mean(0)
    rest = np.setdiff1d(np.arange(len(z)), np.concatenate([lo, hi]))[:N_ARITH_ROWS]
    base = {"z": z[rest], **{k: v[rest] for k, v in cond.items()}}
    cpu = torch.device("cpu")
    minus = run_generator(model, cpu, {**base, "z": base["z"] - d}, len(rest))
    same = run_generator(model, cpu, base, len(rest))
    plus = run_generator(model, cpu, {**base, "z": base["z"] + d}, len(rest))
    avg_lo = run_generator(model, cpu, {"z": z[lo].mean(0, keepdim=True), **{k: v[lo[:1]] for k, v in cond.items()}}, 1)
    avg_hi = run_generator(model, cpu, {"z": z[hi].mean(0, keepdim=True), **{k: v[hi[:1]] for k, v in cond.items()}}, 1)
    rows = [[avg_lo[0], None, avg_hi[0]]] + [[minus[i], same[i], plus[i]] for i in range(len(rest))]
    titled_grid(out_dir / "arithmetic.png", rows,
                f"{exp}: z - d, z, z + d with d = mean z(most ink) - mean z(least ink)",
                row_labels=[f"G(avg z) of {k}\nleast / most ink"] + [f"sample {i}" for i in rest],
                col_labels=["z - d", "z", "z + d"], cell=1.1)
    result = {"property": "ink (mean intensity)", "n_averaged": k,
              "mean_ink": {"z - d": float(ink(minus).mean()), "z": float(ink(same).mean()),
                           "z + d": float(ink(plus).mean())},
              "fraction_plus_above_minus": float((ink(plus) > ink(minus)).mean()),
              "rows": [int(i) for i in rest]}
    write_json(out_dir / "arithmetic.json", result)
    return result


# -- ganflow generate: the optional hook (stages/tasks/__init__.py) ----------------------------------


def seeded_noise(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """n latent vectors z ~ N(0, I) from their own generator: the same seed, the same images."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(int(seed)))


def generate_images(params: Params, exp: str, model, device: torch.device, n: int,
                    options: dict) -> dict[str, np.ndarray]:
    """n images from noise alone, named <exp>_00000..."""
    if options.get("class") is not None or options.get("caption") is not None:
        raise ValueError(f"experiment {exp!r} draws from noise alone: it takes no --class or --caption")
    z = seeded_noise(n, z_dim_of(model), options.get("seed") or 0)
    images = run_generator(model, device, {"z": z}, params.sample.batch_size)
    return {f"{exp}_{i:05d}": img for i, img in enumerate(images)}
