"""Unconditional generation (dcgan): noise in, images out, judged against the real test images.

Also the home of what the labelled and captioned tasks share: reading a data/pairs/<dataset>/
split, running a generator in batches, writing samples/, FID against the test split (with the
training images' own FID as the floor), and the pictures (progress over training, latent
interpolation, latent arithmetic).

  train     {"x": training images in [-1, 1]}
  sample    sample.n_generated images from z ~ N(0, I): samples/<id>.png + outputs.npz
            (ids, images float32 [0, 1], z), generated and written sample.batch_size at a time
  evaluate  fid.json: evaluate.n_samples of the samples vs the evaluate.reference split; for a
            labelled data set also classifier.json (domain-classifier IS and class histogram:
            mode coverage)

Evaluation reads samples and real images a block at a time (data/image_sources.py): FID of a
set above evaluate.max_features_in_memory comes from streamed statistics, and the metrics that
need every feature (precision/recall, memorisation, the FID interval) see a seeded subset of
that size, so that evaluate's memory stays bounded at 50,000 samples.
  plot      samples.png, progress.png, interpolation.png, arithmetic.png (+ arithmetic.json)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import atomic_path, write_json
from ganflow.data.image_sources import READ_BLOCK, FileImages, ImageSource, NpzImages, Subset, seeded_subset
from ganflow.data.images import ImageError, load_image, save_image
from ganflow.data.stores import Column, ImageColumn
from ganflow.data.npz_stream import NpzStreamWriter
from ganflow.data.tensors import to_images, to_tensor
from ganflow.errors import DataError, MissingInputError, ParamsError
from ganflow.metrics.frechet import fid_of_one_image
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.provenance import hash_tree
from ganflow.stages import paths
from ganflow.stages.tasks.common import (
    classifier_record,
    as_source,
    fid_record,
    fid_value,
    generated_sets,
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


def split_rows(dataset: str, split: str) -> pd.DataFrame:
    """The manifest rows of one split, in manifest order; errors name the file."""
    manifest_file = paths.pairs_dir(dataset) / "manifest.csv"
    if not manifest_file.is_file():
        raise MissingInputError(f"{manifest_file} is missing; run `ganflow pair --dataset {dataset}` first")
    manifest = pd.read_csv(manifest_file)
    missing = [c for c in ("id", "split", "image") if c not in manifest.columns]
    if missing:
        raise DataError(f"{manifest_file}: missing column(s) {missing}; has {list(manifest.columns)}")
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"{manifest_file}: no rows with split {split!r}")
    return rows


def read_split(dataset: str, split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(manifest rows, images [0, 1] (N, H, W) or (N, H, W, 3)) of one split; errors name the file."""
    folder = paths.pairs_dir(dataset)
    rows = split_rows(dataset, split)
    try:
        images = np.stack([load_image(folder / rel) for rel in rows["image"]])
    except (ImageError, FileNotFoundError) as e:
        raise DataError(f"{folder / 'manifest.csv'}: {e}") from None
    return rows, images


def image_column(dataset: str, rows: pd.DataFrame) -> ImageColumn:
    """A split's images for the disk store: read per batch as read_split reads them all."""
    folder = paths.pairs_dir(dataset)
    return ImageColumn([folder / rel for rel in rows["image"]],
                       where=[f"{folder / 'manifest.csv'}, id {i}" for i in rows["id"]])


def split_source(dataset: str, split: str) -> tuple[pd.DataFrame, FileImages]:
    """(manifest rows, the split's images as a FileImages read a block at a time)."""
    folder = paths.pairs_dir(dataset)
    rows = split_rows(dataset, split)
    return rows, FileImages([folder / rel for rel in rows["image"]], str(folder / "manifest.csv"), f"{folder}/{split}")


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


class SampleWriter:
    """samples/<id>.png and samples/outputs.npz (ids, images float32 [0, 1], then ``arrays``),
    filled a block of images at a time: ``append(images)`` writes their PNGs and their rows."""

    def __init__(self, out_dir: Path, ids: list[str], **arrays) -> None:
        self.out_dir, self.ids, self.arrays, self.done = out_dir, list(ids), arrays, 0
        self.npz = NpzStreamWriter(out_dir / "outputs.npz")
        self.npz.add("ids", np.array(self.ids))

    def __enter__(self) -> SampleWriter:
        return self

    def append(self, images: np.ndarray) -> None:
        images = np.asarray(images, dtype=np.float32)
        if self.done == 0:
            self.npz.begin("images", len(self.ids), images.shape[1:], np.float32)
        for image_id, img in zip(self.ids[self.done:self.done + len(images)], images):
            save_image(self.out_dir / f"{image_id}.png", img)
        self.npz.append(images)
        self.done += len(images)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for key, value in self.arrays.items():
                self.npz.add(key, value)
        self.npz.__exit__(exc_type, exc, tb)


@torch.no_grad()
def stream_samples(out_dir: Path, ids: list[str], model, device: torch.device, inputs: dict[str, torch.Tensor],
                   batch_size: int, **arrays) -> None:
    """model.generate over ``inputs`` a batch at a time, each batch written as it comes
    (the same images as run_generator's, never all of them in memory)."""
    from tqdm.auto import tqdm
    from ganflow.bars import shown_if

    n = len(ids)
    with SampleWriter(out_dir, ids, **arrays) as writer:
        for i in tqdm(range(0, n, batch_size), desc=f"sample ({n} images)", unit="batch",
                      **shown_if(n > batch_size)):
            out = model.generate({k: v[i:i + batch_size].to(device) for k, v in inputs.items()}).cpu()
            writer.append(np.stack(to_images(out)))


def write_samples(out_dir: Path, ids: list[str], images: np.ndarray, **arrays) -> None:
    with SampleWriter(out_dir, ids, **arrays) as writer:
        writer.append(images)


def load_outputs(exp: str, images: bool = True) -> dict[str, np.ndarray]:
    """samples/outputs.npz's arrays; ``images=False`` leaves the (large) images array unread
    (stored_samples reads it a block at a time)."""
    path = paths.samples_dir(exp) / "outputs.npz"
    if not path.is_file():
        raise MissingInputError(f"{path} is missing; run `ganflow sample --exp {exp}` first")
    with np.load(path) as f:
        return {k: f[k] for k in f.files if images or k != "images"}


def stored_samples(exp: str) -> NpzImages:
    """samples/outputs.npz:images as an ImageSource, read a block at a time."""
    path = paths.samples_dir(exp) / "outputs.npz"
    if not path.is_file():
        raise MissingInputError(f"{path} is missing; run `ganflow sample --exp {exp}` first")
    return NpzImages(path, "images", f"{path}:images")


def scored_indices(params: Params, n_written: int, where: str) -> np.ndarray:
    """Which of the ``n_written`` samples evaluate scores: all (evaluate.n_samples null), else a
    seeded subset of that many; a ParamsError when fewer were written."""
    want = params.evaluate.n_samples
    if want is None:
        return np.arange(n_written)
    if want > n_written:
        raise ParamsError(f"evaluate.n_samples is {want}, but {where} holds only {n_written} samples; "
                          f"lower evaluate.n_samples or raise what sample writes (sample.n_generated / "
                          f"sample.per_class) and rerun `ganflow sample`")
    return seeded_subset(n_written, want, params.seed)


def scored_samples(params: Params, samples: ImageSource, name: str | None = None) -> tuple[np.ndarray, ImageSource]:
    """(indices, images) of the samples evaluate scores: all of them, or the seeded subset of
    evaluate.n_samples (labelled ``name (k of n, seed s)``); every metric reads the same ones."""
    idx = scored_indices(params, len(samples), samples.label)
    if len(idx) == len(samples):
        return idx, samples
    return idx, Subset(samples, idx, f"{name or samples.label} ({len(idx)} of {len(samples)}, seed {params.seed})")


def z_dim_of(model) -> int:
    return int(model.cfg.z_dim)


# -- the four task functions ---------------------------------------------------------------------


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    _, images = read_split(dataset, "train")
    x = to_tensor(list(images))
    return paths.pairs_dir(dataset), {"x": x}, DataInfo(channels=x.shape[1], image_size=meta["image_size"])


def training_columns(params: Params, exp: str) -> tuple[Path, dict[str, Column], DataInfo]:
    """training_tensors' rows for the disk store (data/stores.py), read batch by batch."""
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    column = image_column(dataset, split_rows(dataset, "train"))
    channels = column.take([0]).shape[1]
    return paths.pairs_dir(dataset), {"x": column}, DataInfo(channels=channels, image_size=meta["image_size"])


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    n = params.sample.n_generated
    z = torch.randn(n, z_dim_of(model))
    stream_samples(out_dir, [f"sample_{i:05d}" for i in range(n)], model, device, {"z": z},
                   params.sample.batch_size, z=z.numpy())


def floor_of(fid: dict) -> dict:
    """fid.json's real-images floor, whichever split was the reference."""
    return fid.get("train_images_vs_test") or fid["test_images_vs_train"]


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    samples = stored_samples(exp)
    common = metric_common(exp, dataset)
    fid = write_fid(params, exp, dataset, samples, common)
    line = f"evaluate: {exp}: fid {fid['value']:.2f} (n_fake {fid['n_fake']}, n_real {fid['n_real']}; " \
           f"real images score {floor_of(fid)['value']:.2f})"
    if "classes" in read_meta(dataset):  # labelled data: the domain classifier sees which digits G draws
        rec = classifier_record(params, dataset, scored_samples(params, samples)[1])
        write_metric(exp, "classifier", {**rec, **common})
        line += f"; classifier IS {rec['is_mean']:.2f}, missing classes {rec['missing_classes']}"
    print(line)


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    # The samples are read a block at a time (50,000 of them do not fit the memory plot may use):
    # the grid takes its few images, ink is summed per block.
    out = load_outputs(exp, images=False)
    samples = stored_samples(exp)
    model = trained_model(params, exp)
    save_sample_grid(out_dir / "samples.png", samples.take(np.arange(min(N_GRID, len(samples)))))
    z = torch.from_numpy(out["z"])
    ends = z[: 2 * N_INTERP_ROWS].reshape(N_INTERP_ROWS, 2, -1)
    rows = [run_generator(model, torch.device("cpu"), {"z": slerp(a, b, N_INTERP_STEPS)}, N_INTERP_STEPS)
            for a, b in ends]
    titled_grid(out_dir / "interpolation.png", rows, f"{exp}: spherical interpolation between two z (left to right)")
    latent_arithmetic(model, z, ink_of(samples), {}, out_dir, exp)


# -- shared evaluation pieces --------------------------------------------------------------------


def metric_common(exp: str, dataset: str) -> dict:
    return {"dataset": dataset, "samples_sha256": hash_tree(paths.samples_dir(exp) / "outputs.npz"),
            **run_provenance(exp)}


def mean_image_of(images: ImageSource, block: int) -> np.ndarray:
    """The mean image of a set read a block at a time (float64 sums), as a batch of one."""
    total = None
    for chunk in images.blocks(block):
        part = chunk.astype(np.float64).sum(axis=0)
        total = part if total is None else total + part
    return (total / len(images)).astype(np.float32)[None]


def write_fid(params: Params, exp: str, dataset: str, images, common: dict) -> dict:
    """fid.json: evaluate.n_samples of the samples against the evaluate.reference split, beside
    real images' own score (the floor); precision_recall.json and memorisation.json beside it.

    ``images`` is an array or an ImageSource (stored_samples), read a block at a time.  FID's
    bias grows as n shrinks, so the floor is computed at the generated count: a seeded subset of
    the other real split (the training split when the reference is the test split), scored like
    the samples; a generator that matched the data perfectly would score about that much.
    The mean training image, repeated, is the no-learning baseline a generator must beat.
    """
    e = params.evaluate
    cap, seed = e.max_features_in_memory, params.seed
    pairs = paths.pairs_dir(dataset)
    written = as_source(images, f"samples of {exp}")
    _, scored = scored_samples(params, written, f"samples of {exp}")
    ref_split = e.reference
    other_split = "train" if ref_split == "test" else "test"
    splits = {name: split_source(dataset, name)[1] for name in ("test", "train")}
    ref_images, other_images = splits[ref_split], splits[other_split]
    test_images, train_images = splits["test"], splits["train"]

    real = reference_set(params, ref_images, f"{pairs}/{ref_split}", max_features=cap)
    fake, fake_sub = generated_sets(params, scored, scored.label if scored is not written else f"samples of {exp}",
                                    max_features=cap, seed=seed)
    n = min(len(other_images), len(scored))
    pick = seeded_subset(len(other_images), n, seed)
    floor = reference_set(params, Subset(other_images, pick),
                          f"{pairs}/{other_split} ({n} of {len(other_images)}, seed {seed})", max_features=cap)
    floor_key = f"{other_split}_images_vs_{ref_split}"
    floor_meaning = ("real training images scored like the samples: the floor a perfect generator would reach"
                     if ref_split == "test" else
                     "held-out real test images scored like the samples against the training split: the floor "
                     "a generator that matched the data without copying it would reach")
    mean_image = inception_features(params, mean_image_of(train_images, e.batch_size))[0]
    record = {**fid_record(real, fake, seed=seed), floor_key: {
        "value": fid_value(real, floor), "n": n, "set": floor.describe(), "meaning": floor_meaning},
        "n_samples": fake.n, "n_samples_written": len(written),
        "samples_scored": "all" if scored is written else f"seeded subset (seed {seed}) of evaluate.n_samples",
        "reference_split": ref_split, "reference_size": real.n,
        "statistics": "from features in memory" if real.features is not None and fake.features is not None
        else "streamed: running float64 mean and covariance (Chan's pairwise update), block by block",
        "max_features_in_memory": cap,
        # The no-learning baseline: total collapse onto the average digit / face.
        "mean_training_image": fid_of_one_image(real.stats.mu, real.stats.sigma, mean_image),
        "baseline_definitions": {"mean_training_image": "every sample the mean training image (no learning)"},
        **common}
    write_metric(exp, "fid", record)
    # fid.json is written: drop the whole sets' statistics (a 2048 x 2048 covariance each, and the
    # floor's features below the cap) before the capped metrics build theirs; only the reference
    # set can be reused, when it holds its features.
    fake_src = scored if fake_sub is fake else Subset(scored, seeded_subset(len(scored), cap, seed))
    real_whole = real if real.features is not None else None
    del real, fake, floor

    # Precision/recall and memorisation hold every feature: capped subsets above evaluate.max_features_in_memory.
    def capped(source: ImageSource, label: str, whole=None):
        if len(source) <= cap:
            return (whole if whole is not None and whole.features is not None
                    else reference_set(params, source, label)), source
        sub = Subset(source, seeded_subset(len(source), cap, seed), f"{label} ({cap} of {len(source)}, seed {seed})")
        return reference_set(params, sub, sub.label), sub

    real_sub, _ = capped(ref_images, f"{pairs}/{ref_split}", real_whole)
    del real_whole
    train_set, train_src = capped(train_images, f"{pairs}/train")
    holdout = real_sub if ref_split == "test" else capped(test_images, f"{pairs}/test")[0]
    capped_common = common if max(len(ref_images), len(scored), len(train_images)) <= cap else {
        **common, "feature_subsets": {"max_features_in_memory": cap, "seed": seed, "generated": fake_sub.n,
                                      "reference": real_sub.n, "train": train_set.n}}
    write_sample_metrics(params, exp, real_sub, fake_sub, train_set, train_src, fake_src, capped_common,
                         holdout=holdout)
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


def ink_of(images: ImageSource) -> np.ndarray:
    """ink() of every image of a set, read a block at a time."""
    return np.concatenate([ink(block) for block in images.blocks(READ_BLOCK)]) if len(images) else np.zeros(0)


def latent_arithmetic(model, z: torch.Tensor, score: np.ndarray, cond: dict[str, torch.Tensor],
                      out_dir: Path, exp: str, groups: np.ndarray | None = None) -> dict:
    """The course's vector arithmetic with averaged latents, on a property read off the samples.

    The N_ARITH_AVG samples with the most and the least ink give z_hi and z_lo (means of their
    z); the direction d = z_hi - z_lo is added to and subtracted from other samples' z, each
    keeping its own condition (class or caption).  arithmetic.json says whether ink moved the
    way d points, measured on the new images.  ``score`` is each sample's ink (ink_of).  With
    ``groups`` (the class of each sample) ink is counted relative to its class's mean, so that d
    is a style, not "an 8 rather than a 1".
    """
    score = np.array(score, dtype=np.float64)  # a copy: the class centring below writes into it
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
