"""Pieces every task's evaluation shares: feature sets (real ones cached by content), one record
builder per metric, and the provenance fields every metric file carries.

A task's ``evaluate`` typically does::

    real = reference_set(params, test_images, "data/pairs/<ds>/test")   # cached by content
    fake = generated_set(params, samples, "results/<exp>/samples")      # features (+ logits)
    write_metric(exp, "fid", {**fid_record(real, fake, seed=params.seed), **common})
    write_metric(exp, "kid", {**kid_record(params, real, fake), **common})
    write_metric(exp, "precision_recall", {**precision_recall_record(params, real, fake), **common})
    write_metric(exp, "memorisation", {**memorisation_record(params, train, fake, train_imgs, samples,
                                                             paths.exp_dir(exp) / "memorisation.png"), **common})
    write_metric(exp, "is", {**inception_score_record(params, fake), **common})       # needs fc weights
    write_metric(exp, "classifier", {**classifier_record(params, ds, samples, labels), **common})

where ``common = {"dataset": ..., **run_provenance(exp)}``.  Images are [0,1] arrays (N, H, W) or
(N, H, W, C), as the tasks keep them.  An evaluate stage that writes memorisation.json declares
results/<exp>/memorisation.png among its outs; one that uses the domain classifier depends on
data/classifiers/<dataset> (made by ``ganflow classifier``), src/ganflow/stages/classifier.py and
src/ganflow/nn/classifier.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ganflow.atomic import write_json
from ganflow.data.image_sources import ArrayImages, ImageSource
from ganflow.errors import DataError, MissingInputError
from ganflow.hashing import sha256_file
from ganflow.metrics.bootstrap import fid_interval, kid_interval
from ganflow.metrics.classifier_score import scores_from_logits
from ganflow.metrics.frechet import frechet_distance, frechet_distance_from_features, gaussian_stats
from ganflow.metrics.inception import (
    PREPROCESSING,
    FIDInceptionV3,
    extract_features,
    extract_features_and_logits,
    load_fid_inception,
)
from ganflow.metrics.inception_score import inception_score
from ganflow.metrics.kid import capped_subset_size, kernel_inception_distance
from ganflow.metrics.memorisation import memorisation
from ganflow.metrics.precision_recall import precision_recall
from ganflow.metrics.refstats import (
    ImagesHasher,
    RefStats,
    cached_stats,
    extractor_sha256,
    images_sha256,
    stats_from_features,
)
from ganflow.metrics.streaming import StreamingMoments
from ganflow.params import Params
from ganflow.provenance import code_version
from ganflow.stages import paths
from ganflow.train.device import pick_device

# Content-addressed cache of reference statistics.  Deliberately NOT a DVC/Snakemake output: every
# evaluate stage (and `ganflow fid --cache-dir`) reads and fills it, an output may have only one
# producing stage, and each file is a pure function of its name (the key), so a stage's result is
# the same with or without it.  It creates its own .gitignore; deleting it only costs time.
REFSTATS_DIR = paths.DATA / "refstats"
PT_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
# Images decoded and passed through the Inception per block (rounded to whole evaluate batches, so
# that the network sees the same batches as it would on the stacked set: identical features).
FEATURE_BLOCK_IMAGES = 512
# The domain classifier's batches are 256 (nn/classifier.py); blocks are whole multiples of them.
CLASSIFIER_BLOCK_IMAGES = 1024


def nchw(arr: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) -> (N, C, H, W) float32 for the Inception."""
    arr = np.asarray(arr, dtype=np.float32)
    return arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)


# -- the Inception extractor --------------------------------------------------------------------


@lru_cache(maxsize=1)
def _extractor() -> FIDInceptionV3:
    weights = paths.fid_weights_file()
    if not weights.is_file():
        raise MissingInputError(f"{weights} not found: run `ganflow weights` first (it finds or fetches the FID Inception)")
    # Folded batch norm + NHWC: ~1.8x faster on CPU; its tensors are what _extractor_hash hashes,
    # so statistics cached from the unfolded network (features ~2e-6 apart) are not reused.
    return load_fid_inception(weights).fold_for_inference_()


@lru_cache(maxsize=1)
def _extractor_hash() -> str:
    return extractor_sha256(_extractor())


def has_inception_logits() -> bool:
    """Whether data/weights holds the Inception's 1008-class fc layer (pytorch-fid's full file)."""
    return bool(_extractor().with_logits)


def _require_logits() -> None:
    if not has_inception_logits():
        raise MissingInputError(
            f"the Inception Score needs the Inception's classifier layer (fc, 1008 logits), and "
            f"{paths.fid_weights_file()} has none (fid-helper's weights carry pool3 only). Put pytorch-fid's "
            f"{PT_FID_FILE} at ~/.cache/torch/hub/checkpoints/{PT_FID_FILE} (or set weights.fid_inception.path "
            f"to it), then rerun `ganflow weights`. Without internet, a labelled data set's domain-classifier "
            f"score (`ganflow classifier --dataset NAME`) is the offline alternative.")


def inception_features(params: Params, images: np.ndarray) -> np.ndarray:
    """Pool3 features of [0,1] images (N, H, W) or (N, H, W, C)."""
    return _features(params, nchw(images))


def _features(params: Params, x: np.ndarray) -> np.ndarray:
    device = pick_device(params.evaluate.device)
    return extract_features(_extractor(), x, batch_size=params.evaluate.batch_size, device=device)


# -- feature sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureSet:
    """Features and Gaussian statistics of one image set, with where they came from."""

    label: str  # what the set is (a folder, "samples of <exp>"), for the metric files
    stats: RefStats
    cache_hit: bool | None  # None: not looked up in the cache (generated sets)
    logits: np.ndarray | None = None

    @property
    def features(self) -> np.ndarray:
        return self.stats.features

    @property
    def n(self) -> int:
        return self.stats.n

    def describe(self) -> dict:
        return {"set": self.label, **self.stats.describe(), "cache_hit": self.cache_hit}


def as_source(images, label: str = "images") -> ImageSource:
    """An ImageSource as it is; an array wrapped as one."""
    return images if isinstance(images, ImageSource) else ArrayImages(images, label)


def block_rows(params: Params) -> int:
    b = params.evaluate.batch_size
    return b * max(1, FEATURE_BLOCK_IMAGES // b)


def _hash_blocks(hasher: ImagesHasher, block: np.ndarray) -> None:
    for image in nchw(block):
        hasher.update(image)


def source_sha256(params: Params, source: ImageSource) -> str:
    """images_sha256 of a set walked a block at a time (equal to hashing the stacked set)."""
    hasher = ImagesHasher()
    for block in source.blocks(block_rows(params)):
        _hash_blocks(hasher, block)
    return hasher.hexdigest()


def stream_features(params: Params, source: ImageSource, keep: np.ndarray | None = None,
                    moments: bool = False, hasher: ImagesHasher | None = None,
                    ) -> tuple[np.ndarray | None, StreamingMoments | None]:
    """One walk of ``source`` through the Inception, a block at a time.

    Returns (the features of the rows at sorted ``keep`` (None: none kept), running moments of
    every row when ``moments``); ``hasher`` (if given) sees every image on the way.  Nothing
    larger than one block of images and the kept features is ever held.
    """
    from tqdm.auto import tqdm
    from ganflow.bars import shown_if

    rows, device = block_rows(params), pick_device(params.evaluate.device)
    acc = StreamingMoments() if moments else None
    # the kept rows are written into one matrix as they come (a list of chunks joined at the end
    # would hold them twice at the moment the walk ends)
    kept: np.ndarray | None = None
    start = 0
    n_blocks = -(-len(source) // rows)
    for block in tqdm(source.blocks(rows), total=n_blocks, desc=f"inception features ({len(source)} images)",
                      unit="block", **shown_if(n_blocks >= 2)):
        if hasher is not None:
            _hash_blocks(hasher, block)
        feats = extract_features(_extractor(), nchw(block), batch_size=params.evaluate.batch_size,
                                 device=device, progress=False)
        if acc is not None:
            acc.update(feats)
        if keep is not None:
            if kept is None:
                kept = np.empty((len(keep), feats.shape[1]), dtype=feats.dtype)
            lo, hi = np.searchsorted(keep, [start, start + len(block)])
            if hi > lo:
                kept[lo:hi] = feats[keep[lo:hi] - start]
        del feats
        start += len(block)
    if start != len(source):
        raise DataError(f"{source.label}: read {start} images, expected {len(source)}")
    features = None if keep is None else (kept if kept is not None and len(keep) else np.empty((0, 0)))
    return features, acc


def streamed_stats(acc: StreamingMoments) -> RefStats:
    return RefStats(mu=acc.mean, sigma=acc.cov(), n=acc.n)


def reference_set(params: Params, images, label: str, max_features: int | None = None) -> FeatureSet:
    """A real image set's features and statistics, from data/refstats/ when computed before.

    ``images`` is an array or an ImageSource (read a block at a time).  A set of more than
    ``max_features`` images keeps no features: its mean and covariance are streamed (and cached
    as such), for FID only.
    """
    source = as_source(images, label)
    streamed = max_features is not None and len(source) > max_features
    cache_dir = REFSTATS_DIR if params.evaluate.reference_cache else None

    def compute():
        features, acc = stream_features(params, source, keep=None if streamed else np.arange(len(source)),
                                        moments=streamed)
        return streamed_stats(acc) if streamed else features

    stats, hit = cached_stats(cache_dir, source_sha256(params, source), _extractor_hash(), PREPROCESSING,
                              compute, numerics=_numerics(params), need_features=not streamed)
    if streamed and stats.features is not None:  # filled by an earlier run with a higher cap: drop them
        stats = replace(stats, features=None)
    return FeatureSet(label, stats, hit)


def _numerics(params: Params) -> dict:
    return {"device": pick_device(params.evaluate.device).type, "batch_size": params.evaluate.batch_size}


def generated_set(params: Params, images, label: str, with_logits: bool = False) -> FeatureSet:
    """Generated images' features (and the Inception's unbiased logits when asked); never cached,
    since samples change with every training run."""
    if with_logits:
        images = nchw(images)
        _require_logits()
        features, logits = extract_features_and_logits(
            _extractor(), images, batch_size=params.evaluate.batch_size, device=pick_device(params.evaluate.device))
        provenance = {"images_sha256": images_sha256(images), "extractor_sha256": _extractor_hash(),
                      "preprocessing": PREPROCESSING}
        return FeatureSet(label, stats_from_features(features, **provenance), None, logits)
    full, _ = generated_sets(params, images, label)
    return full


def generated_sets(params: Params, images, label: str, max_features: int | None = None,
                   seed: int = 0) -> tuple[FeatureSet, FeatureSet]:
    """(the whole generated set, a seeded subset of at most ``max_features`` with its features),
    from one walk; the same object twice when the set is small enough to keep every feature.
    Above the cap the whole set's statistics are streamed and it keeps no features."""
    from ganflow.data.image_sources import seeded_subset

    source = as_source(images, label)
    n = len(source)
    streamed = max_features is not None and n > max_features
    keep = seeded_subset(n, max_features, seed) if streamed else np.arange(n)
    hasher = ImagesHasher()
    features, acc = stream_features(params, source, keep=keep, moments=streamed, hasher=hasher)
    provenance = {"images_sha256": hasher.hexdigest(), "extractor_sha256": _extractor_hash(),
                  "preprocessing": PREPROCESSING}
    if not streamed:
        whole = FeatureSet(label, stats_from_features(features, **provenance), None)
        return whole, whole
    whole = FeatureSet(label, replace(streamed_stats(acc), **provenance), None)
    sub_label = f"{label} ({len(keep)} of {n}, seed {seed})"
    return whole, FeatureSet(sub_label, stats_from_features(features, extractor_sha256=_extractor_hash(),
                                                           preprocessing=PREPROCESSING), None)


# -- provenance ---------------------------------------------------------------------------------


def fid_provenance() -> dict:
    """How Inception features were made: network, weights (file and tensors), preprocessing."""
    meta = json.loads((paths.weights_dir() / "fid_inception.json").read_text())
    return {
        "feature_extractor": "FIDInceptionV3 pool3 (2048-d)", "weights_sha256": meta["sha256"],
        "weights_source_sha256": meta["source_sha256"], "weights_source": meta["source_kind"],
        "extractor_sha256": _extractor_hash(), "preprocessing": PREPROCESSING,
        "resize_rule": PREPROCESSING["resize"], "inception_execution": getattr(_extractor(), "execution", None),
    }


def run_provenance(exp: str) -> dict:
    """Fields every metric file of an experiment carries: checkpoint, code version, seed."""
    run = json.loads((paths.model_dir(exp) / "run.json").read_text())
    return {"experiment": exp, "checkpoint_sha256": sha256_file(paths.model_dir(exp) / "checkpoint.pt"),
            "code": code_version(), "seed": run["seed"]}


def _sets(real: FeatureSet, fake: FeatureSet) -> dict:
    return {"n_real": real.n, "n_fake": fake.n, "reference": real.describe(), "generated": fake.describe(),
            "reference_images_sha256": real.stats.images_sha256}


# -- one record per metric ----------------------------------------------------------------------


def fid_between(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    return frechet_distance(*gaussian_stats(fake_features), *gaussian_stats(real_features))


def fid_value(real: FeatureSet, fake: FeatureSet) -> float:
    """FID from the features (exact low-rank route below 2048 images), else from mu / sigma."""
    if real.features is not None and fake.features is not None:
        return frechet_distance_from_features(fake.features, real.features)
    return frechet_distance(fake.stats.mu, fake.stats.sigma, real.stats.mu, real.stats.sigma)


def fid_record(real: FeatureSet, fake: FeatureSet, *, seed: int) -> dict:
    """fid.json's fields, with a bootstrap interval over the generated images (``seed`` recorded);
    a set whose statistics were streamed (no features in memory) gets no interval, and says so."""
    if real.features is None or fake.features is None:
        interval = {"skipped": "a set is larger than evaluate.max_features_in_memory: its statistics were "
                               "streamed, and the bootstrap needs every feature", "seed": seed}
    else:
        interval = fid_interval(real.features, fake.features, seed=seed)
    return {
        "metric": "fid", "value": fid_value(real, fake),
        "interval": interval,
        **_sets(real, fake), **fid_provenance(),
        "frechet": "float64; tr sqrt(S1 S2) as the singular values of the centred feature product "
                   "(fewer images than dimensions) or symmetric eigen-decompositions",
        "note": "FID from fewer than 2048 images has a rank-deficient covariance and a large bias; "
                "compare numbers only at equal n",
    }


def kid_record(params: Params, real: FeatureSet, fake: FeatureSet) -> dict:
    """kid.json's fields: the subset mean and std (subsets capped below n, so they differ), and a
    bootstrap interval of the whole-set estimate over the generated images."""
    e = params.evaluate
    size = capped_subset_size(e.kid_subset_size, real.n, fake.n)
    kid = kernel_inception_distance(real.features, fake.features, subsets=e.kid_subsets,
                                    subset_size=size, seed=params.seed)
    return {"metric": "kid", "value": kid["mean"], "std": kid["std"], "subsets": kid["subsets"],
            "subset_size": kid["subset_size"], "subset_size_asked": e.kid_subset_size,
            "interval": kid_interval(real.features, fake.features, seed=params.seed),
            "kernel": kid["kernel"], "estimator": "unbiased MMD^2",
            "metric_seed": params.seed, **_sets(real, fake), **fid_provenance(),
            "note": "unbiased: can be slightly negative for sets from one distribution; subsets are capped at half "
                    "the smaller set, so that they differ and std is their spread at that size"}


def precision_recall_record(params: Params, real: FeatureSet, fake: FeatureSet) -> dict:
    pr = precision_recall(real.features, fake.features, k=params.evaluate.pr_k)
    return {"metric": "precision_recall", "value": {"precision": pr["precision"], "recall": pr["recall"]},
            "precision": pr["precision"], "recall": pr["recall"], "k": pr["k"],
            "method": "k-NN manifolds on Inception pool3 features (Kynkaanniemi et al. 2019)",
            **_sets(real, fake), **fid_provenance()}


def memorisation_record(params: Params, train: FeatureSet, fake: FeatureSet, train_images: np.ndarray,
                        fake_images: np.ndarray, picture: Path, holdout: FeatureSet | None = None,
                        n_pairs: int = 16) -> dict:
    """Nearest-training-image distances of the samples, and ``picture``: the closest pairs
    (generated, then its nearest training image), closest first, four pairs per row."""
    from ganflow.report.grids import save_grid

    m = memorisation(fake.features, train.features, relative_threshold=params.evaluate.memorisation_threshold,
                     holdout=None if holdout is None else holdout.features, n_closest=n_pairs)
    pairs = [{"fake_index": int(i), "train_index": int(m["nearest"][i]), "distance": float(m["distances"][i])}
             for i in m["closest"]]
    # one walk of each set (an array or an ImageSource), not one per picture
    fakes = as_source(fake_images).take([p["fake_index"] for p in pairs])
    trains = as_source(train_images).take([p["train_index"] for p in pairs])
    tiles = []
    for f, t in zip(fakes, trains):
        tiles += [f, t]
    save_grid(picture, tiles, ncols=8, scale=2)
    scalars = {k: v for k, v in m.items() if k not in ("distances", "nearest", "closest")}
    return {"metric": "memorisation", "value": m["fraction_below_threshold"], **scalars,
            "distance": "Euclidean, Inception pool3 features", "closest_pairs": pairs, "picture": str(picture),
            "n_real": train.n, "n_fake": fake.n, "reference": train.describe(), "generated": fake.describe(),
            **({"holdout": holdout.describe()} if holdout is not None else {}), **fid_provenance()}


def inception_score_record(params: Params, fake: FeatureSet) -> dict:
    """IS of generated images from the Inception's logits (``generated_set(..., with_logits=True)``)."""
    if fake.logits is None:
        _require_logits()
        raise ValueError("inception_score_record needs generated_set(..., with_logits=True)")
    score = inception_score(fake.logits, splits=params.evaluate.is_splits, seed=params.seed)
    return {"metric": "is", "value": score["mean"], "std": score["std"], "splits": score["splits"],
            "per_split": score["per_split"], "n_fake": fake.n, "generated": fake.describe(),
            "classifier": "FIDInceptionV3 fc (1008 ImageNet classes), logits without bias, as torch-fidelity",
            "metric_seed": params.seed, **fid_provenance()}


def write_sample_metrics(params: Params, exp: str, real: FeatureSet, fake: FeatureSet, train: FeatureSet,
                         train_images, fake_images, common: dict, holdout: FeatureSet | None = None) -> None:
    """precision_recall.json (fake against the test set) and memorisation.json + memorisation.png
    (each sample's nearest training image; the test set, or ``holdout``, as the holdout that says
    what "near" is).  Images are arrays or ImageSources indexed like the features."""
    write_metric(exp, "precision_recall", {**precision_recall_record(params, real, fake), **common})
    write_metric(exp, "memorisation", {
        **memorisation_record(params, train, fake, train_images, fake_images,
                              paths.memorisation_picture(exp), holdout=real if holdout is None else holdout),
        **common})


def load_domain_classifier(dataset: str):
    """(model, meta, provenance dict) of data/classifiers/<dataset>/, or a MissingInputError saying how to make it."""
    from ganflow.nn.classifier import load_classifier

    folder = paths.classifier_dir(dataset)
    model_file, acc_file = folder / "model.pt", folder / "accuracy.json"
    if not model_file.is_file() or not acc_file.is_file():
        raise MissingInputError(f"{folder}: no domain classifier; run `ganflow classifier --dataset {dataset}` first")
    model, meta = load_classifier(model_file)
    acc = json.loads(acc_file.read_text())
    return model, meta, {"classifier": str(model_file), "classifier_sha256": sha256_file(model_file),
                         "classifier_test_accuracy": acc["test_accuracy"],
                         "classifier_data_sha256": acc.get("data_sha256"), "classes": meta["classes"]}


def classifier_record(params: Params, dataset: str, images: np.ndarray, labels=None) -> dict:
    """Domain-classifier IS, class histogram / missing classes and (given the requested labels)
    the accuracy of the samples; says which classifier made the numbers."""
    model, meta, provenance = load_domain_classifier(dataset)
    source = as_source(images, "samples")
    shape = nchw(np.zeros((1, *source.image_shape), np.float32)).shape[1:]
    if tuple(shape) != (meta["channels"], meta["image_size"], meta["image_size"]):
        raise DataError(f"the {dataset} classifier takes {meta['channels']} x {meta['image_size']} x "
                         f"{meta['image_size']} images; these are {tuple(shape)}")
    logits = classifier_logits(params, model, source, hasher := ImagesHasher())
    s = scores_from_logits(logits, labels=labels, splits=params.evaluate.is_splits, seed=params.seed)
    return {"metric": "classifier_score", "value": s["is_mean"], **s, "n_fake": s["n"], **provenance,
            "images_sha256": hasher.hexdigest(), "metric_seed": params.seed}


def classifier_logits(params: Params, model, images, hasher: ImagesHasher | None = None) -> np.ndarray:
    """The domain classifier's logits of an array or ImageSource, a block at a time (whole batches of
    its 256, so the same numbers as one call on the stacked set); ``hasher`` sees every image."""
    device = pick_device(params.evaluate.device)
    out = []
    for block in as_source(images).blocks(CLASSIFIER_BLOCK_IMAGES):
        if hasher is not None:
            _hash_blocks(hasher, block)
        out.append(model.predict_logits(nchw(block), device=device))
    return np.concatenate(out)


def write_metric(exp: str, metric: str, record: dict) -> Path:
    path = paths.metric_file(exp, metric)
    write_json(path, record)
    return path


def read_layout_set(dataset: str, layout: str, columns: tuple[str, ...], hint: str) -> tuple[Path, pd.DataFrame, dict]:
    """(folder, manifest, dataset.json) of data/pairs/<dataset>/, checked to be of ``layout`` with
    ``columns``; ``hint`` (which sources make that layout) ends the wrong-layout error. Cells are
    read as written (an empty b stays "", an id "NA" stays "NA")."""
    folder = paths.pairs_dir(dataset)
    manifest_file, meta_file = folder / "manifest.csv", folder / "dataset.json"
    for f in (manifest_file, meta_file):
        if not f.is_file():
            raise MissingInputError(f"{f} is missing; run `ganflow pair --dataset {dataset}` first")
    meta = json.loads(meta_file.read_text())
    if meta.get("layout") != layout:
        raise DataError(f"{meta_file}: layout {meta.get('layout')!r}; the {layout} task needs {layout!r} "
                        f"(manifest columns {', '.join(columns)}){hint}")
    manifest = pd.read_csv(manifest_file, dtype={"id": str}, keep_default_na=False)
    missing = [c for c in columns if c not in manifest.columns]
    if missing:
        raise DataError(f"{manifest_file}: missing column(s) {missing}")
    return folder, manifest, meta
