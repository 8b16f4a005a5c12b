"""Multi-domain translation (stargan): one generator, the target domain as an input.

The domains are columns of data/pairs/<dataset>/: the 0/1 attribute columns of the "attributes"
layout (CelebA's hair colours, Male, Young; the offline digit_0..digit_9), or the classes of a
"labelled" set.  ``train.<exp>.net.domains`` picks some (None: all).  With ``net.labels:
exclusive`` every image belongs to exactly one selected domain (images in none are left out);
with ``multi`` the columns are independent attributes.

  train     {"image": train images in [-1, 1], "label": N x K float 0/1 over the selected domains}
  sample    every test image translated into every selected domain -- that domain alone
            (exclusive) or that attribute flipped (multi): samples/<domain>/<id>.png and
            outputs.npz (ids, labels N x K, domains, translated N x K x H x W x C float32 [0, 1])
  evaluate  fid.json: FID per target domain (translations into it from images not in it, against
            the real test images in it), beside the untranslated inputs' FID;
            domain_accuracy.json: how often an independent domain classifier (nn/classifier.py,
            trained here on the train split: StarGAN's own D is not independent) assigns a
            translation to its target domain, per domain and overall (overall with a bootstrap
            interval over test images), with the classifier's accuracy on real test images for scale
  plot      test_samples.png: one row per test input: the input, then its translation into each domain
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import write_json
from ganflow.data.images import ImageError, load_image, save_image
from ganflow.data.tensors import to_tensor
from ganflow.errors import DataError, MissingInputError, ParamsError
from ganflow.metrics.bootstrap import fid_interval, ratio_interval
from ganflow.models import get_model
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.provenance import hash_tree
from ganflow.report.grids import save_grid
from ganflow.stages import paths
from ganflow.stages.tasks.common import fid_between, fid_provenance, generated_set, reference_set, run_provenance
from ganflow.train.classifier import FitConfig, fit_classifier
from ganflow.train.device import pick_device

# The stage graph's view of this task (stages/graph.py wires the stages from these):
DATASET_INPUTS = ("pairs",)  # per-dataset artifacts its stages read (pairs, masked, text_encoder)
METRICS = ("fid", "domain_accuracy")  # evaluate's files: results/<exp>/<metric>.json
SCORED_BY_CLASSIFIER = False  # on a labelled data set, evaluate also reads its domain classifier
EXPORTS_SUBMISSION = False  # `ganflow export` writes the course's submission CSV
EVALUATE_READS = ("classifier",)  # params sections evaluate reads beyond evaluate, seed and the experiment's own

N_SHOWN = 16


@dataclass(frozen=True)
class DomainSet:
    folder: Path
    meta: dict
    domains: list[str]
    exclusive: bool
    ids: list[str]
    labels: np.ndarray        # N x K float32 0/1 over the selected domains
    images: np.ndarray        # N x H x W x C float32 [0, 1]


def net_config(params: Params, exp: str):
    e = params.experiment(exp)
    return get_model(e.model).Config(**params.train[exp].net)


def selected_domains(params: Params, exp: str) -> tuple[Path, dict, list[str]]:
    """(data folder, dataset.json, the selected domain names), checked against the data set."""
    dataset = params.experiment(exp).dataset
    cfg = net_config(params, exp)
    folder = paths.pairs_dir(dataset)
    meta_file = folder / "dataset.json"
    if not meta_file.is_file():
        raise MissingInputError(f"{meta_file} is missing; run `ganflow pair --dataset {dataset}` first")
    meta = json.loads(meta_file.read_text())
    layout = meta.get("layout")
    if layout == "attributes":
        available = list(meta.get("attributes", []))
    elif layout == "labelled":
        available = list(meta.get("classes", []))
    else:
        raise DataError(f"{meta_file}: layout {layout!r}; the domains task needs 'attributes' (0/1 columns) "
                         "or 'labelled' (classes)")
    domains = list(cfg.domains) if cfg.domains is not None else available
    unknown = [d for d in domains if d not in available]
    if unknown:
        raise ParamsError(f"train.{exp}.net.domains: {unknown} not in {meta_file} ({layout}: {available})")
    return folder, meta, domains


def read_split(params: Params, exp: str, split: str) -> DomainSet:
    """The rows of one split that fall in the selected domains, with their 0/1 domain labels."""
    cfg = net_config(params, exp)
    folder, meta, domains = selected_domains(params, exp)
    manifest_file = folder / "manifest.csv"
    if not manifest_file.is_file():
        raise MissingInputError(f"{manifest_file} is missing; run `ganflow pair --dataset {params.experiment(exp).dataset}` first")
    manifest = pd.read_csv(manifest_file, dtype={"id": str})
    layout = meta["layout"]

    rows = manifest[manifest["split"] == split].sort_values("id").reset_index(drop=True)
    if layout == "attributes":
        missing = [d for d in domains if d not in manifest.columns]
        if missing:
            raise DataError(f"{manifest_file}: no column(s) {missing}")
        labels = rows[domains].to_numpy()
        bad = ~np.isin(labels, (0, 1)).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{manifest_file}: id {rows['id'][i]}: domain values {labels[i].tolist()} are not 0/1")
    else:
        labels = np.stack([(rows["label_name"].astype(str) == d).to_numpy() for d in domains], axis=1)
    labels = labels.astype(np.float32).reshape(len(rows), len(domains))

    exclusive = cfg.labels == "exclusive"
    if exclusive:
        many = labels.sum(axis=1) > 1
        if many.any():
            i = int(np.flatnonzero(many)[0])
            raise DataError(f"{manifest_file}: id {rows['id'][i]} is in several of the domains {domains}; "
                             f"set train.{exp}.net.labels: multi for independent attributes")
        keep = labels.sum(axis=1) == 1  # images in none of the selected domains take no part
        rows, labels = rows[keep].reset_index(drop=True), labels[keep]
    if rows.empty:
        raise DataError(f"{manifest_file}: no {split} images in the domains {domains}")
    try:
        images = [load_image(folder / rel, meta["channels"]) for rel in rows["image"]]
    except (ImageError, FileNotFoundError) as e:
        raise DataError(f"{manifest_file}: {e}") from None
    arr = np.stack([im[..., None] if im.ndim == 2 else im for im in images]).astype(np.float32)
    return DomainSet(folder, meta, domains, exclusive, list(rows["id"]), labels, arr)


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    s = read_split(params, exp, "train")
    x = to_tensor(list(s.images))
    info = DataInfo(channels=x.shape[1], image_size=s.meta["image_size"], n_classes=len(s.domains))
    return s.folder, {"image": x, "label": torch.from_numpy(s.labels)}, info


def _hwc(t: torch.Tensor) -> np.ndarray:
    return ((t.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy().astype(np.float32)


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    s = read_split(params, exp, "test")
    x, c = to_tensor(list(s.images)), torch.from_numpy(s.labels)
    bs = params.sample.batch_size
    per_domain = [[] for _ in s.domains]
    for i in range(0, len(x), bs):
        xb, cb = x[i:i + bs].to(device), c[i:i + bs].to(device)
        for k, target in enumerate(model.domain_targets(cb)):
            per_domain[k].append(_hwc(model.translate(xb, target).cpu()))
    translated = np.stack([np.concatenate(p) for p in per_domain], axis=1)  # N x K x H x W x C
    for k, d in enumerate(s.domains):
        for image_id, img in zip(s.ids, translated[:, k]):
            save_image(out_dir / d / f"{image_id}.png", img[..., 0] if img.shape[-1] == 1 else img)
    np.savez_compressed(out_dir / "outputs.npz", ids=np.array(s.ids), labels=s.labels,
                        domains=np.array(s.domains), translated=translated, exclusive=np.array(s.exclusive))


def load_outputs(exp: str, test: DomainSet) -> dict[str, np.ndarray]:
    path = paths.samples_dir(exp) / "outputs.npz"
    if not path.is_file():
        raise MissingInputError(f"{path} is missing; run `ganflow sample --exp {exp}` first")
    with np.load(path) as f:
        out = {k: f[k] for k in f.files}
    if list(out["ids"]) != test.ids or list(out["domains"]) != test.domains:
        raise DataError(f"{path} was made for other test images or domains; rerun `ganflow sample --exp {exp}`")
    return out


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def _fit_config(params: Params) -> FitConfig:
    c = params.classifier
    return FitConfig(steps=c.steps, batch_size=c.batch_size, lr=c.lr, weight_decay=c.weight_decay, width=c.width,
                     dropout=c.dropout, max_shift=c.max_shift, eval_every=c.eval_every, seed=c.seed)


def train_domain_classifiers(params: Params, train: DomainSet) -> list[tuple[torch.nn.Module, list[int]]]:
    """Exclusive domains: one K-way classifier.  Multi-label: one 0/1 classifier per attribute.

    Each is trained on the train split minus a seeded ``classifier.val_fraction``, on which the
    weights of the best accuracy are kept.  Returned as (model, the domain indices it answers for).
    """
    c = params.classifier
    n = len(train.ids)
    is_val = np.zeros(n, dtype=bool)
    is_val[np.random.default_rng(c.seed).permutation(n)[:max(1, int(round(c.val_fraction * n)))]] = True
    x = _nchw(train.images)
    device = pick_device(c.device)
    targets = ([(train.labels.argmax(1), list(range(len(train.domains))))] if train.exclusive else
               [(train.labels[:, k].astype(np.int64), [k]) for k in range(len(train.domains))])
    out = []
    for y, answers in targets:
        y = torch.from_numpy(np.asarray(y, dtype=np.int64))
        model, _ = fit_classifier(x[~is_val], y[~is_val], x[is_val], y[is_val],
                                  num_classes=max(2, len(answers)) if train.exclusive else 2,
                                  cfg=_fit_config(params), device=device)
        out.append((model.cpu().eval(), answers))
    return out


def predict(classifiers, images: np.ndarray) -> np.ndarray:
    """N x K 0/1 predictions (exclusive: one-hot of the argmax) for N x H x W x C images."""
    x = _nchw(images)
    cols = []
    for model, answers in classifiers:
        logits = model.predict_logits(x)
        if len(answers) > 1:
            pred = np.eye(logits.shape[1], dtype=np.float32)[logits.argmax(1)][:, :len(answers)]
        else:
            pred = logits.argmax(1)[:, None].astype(np.float32)
        cols.append(pred)
    return np.concatenate(cols, axis=1)


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    test = read_split(params, exp, "test")
    out = load_outputs(exp, test)
    translated, labels = out["translated"], test.labels
    common = {"dataset": dataset, "domains": test.domains, "labels": "exclusive" if test.exclusive else "multi",
              "samples_sha256": hash_tree(paths.samples_dir(exp) / "outputs.npz"), **run_provenance(exp)}

    # FID per target domain k: translations into k from images that are not in k, against the
    # real test images in k.  (Multi-label: k switched on, from images without it.)  Features are
    # extracted once -- every test image, every translation that counts -- and sliced per domain.
    sources = [np.flatnonzero(labels[:, k] == 0) for k in range(len(test.domains))]
    real = reference_set(params, test.images, f"{test.folder}/test ({len(test.ids)} images in {test.domains})")
    fake = generated_set(params, np.concatenate([translated[src, k] for k, src in enumerate(sources)]),
                         f"{paths.samples_dir(exp)}/outputs.npz:translated (into each domain, from outside it)")
    ends = np.cumsum([len(src) for src in sources])
    fid, shown = {}, []
    for k, d in enumerate(test.domains):
        src, dst = sources[k], labels[:, k] == 1
        if len(src) < 2 or dst.sum() < 2:
            fid[d] = {"value": None, "note": f"needs >= 2 test images in and out of {d}; "
                                             f"has {int(dst.sum())} and {len(src)}"}
            continue
        fake_k = fake.features[ends[k] - len(src):ends[k]]
        fid[d] = {"value": fid_between(real.features[dst], fake_k),
                  "interval": fid_interval(real.features[dst], fake_k, seed=params.seed),
                  "input_as_is": fid_between(real.features[dst], real.features[src]),
                  "n_real": int(dst.sum()), "n_fake": len(src)}
        shown.append(f"{d} {fid[d]['value']:.1f}")
    values = [v["value"] for v in fid.values() if v["value"] is not None]
    write_json(paths.metric_file(exp, "fid"), {
        "metric": "fid", "value": float(np.mean(values)) if values else None,
        "value_is": "the mean of the per-domain FIDs", "per_domain": fid,
        "reference_images_sha256": real.stats.images_sha256,
        "definition": "per target domain: FID between the translations into it of the test images not in it "
                      "and the real test images in it; input_as_is: the untranslated inputs instead",
        **fid_provenance(), **common})

    # Domain accuracy with an independent classifier (D's own head would grade its own homework).
    train = read_split(params, exp, "train")
    classifiers = train_domain_classifiers(params, train)
    real_pred = predict(classifiers, test.images)
    real_acc = float((real_pred == labels).all(axis=1).mean()) if test.exclusive else float((real_pred == labels).mean())
    per_domain, hits, total = {}, 0, 0
    # Per test image: how many of its translations count and how many land in their domain, so
    # the interval resamples test images with all their translations (one image is one draw).
    image_hits, image_tries = np.zeros(len(test.ids)), np.zeros(len(test.ids))
    for k, d in enumerate(test.domains):
        src = labels[:, k] == 0  # their target has d on (exclusive: d alone; multi: d flipped from 0)
        ok = predict(classifiers, translated[src, k])[:, k] == 1
        as_is = predict(classifiers, test.images[src])[:, k] == 1
        per_domain[d] = {"accuracy": float(ok.mean()) if len(ok) else None, "n": int(src.sum()),
                         "input_as_is": float(as_is.mean()) if len(as_is) else None}
        hits, total = hits + int(ok.sum()), total + int(len(ok))
        image_hits[src] += ok
        image_tries[src] += 1
    counted = image_tries > 0
    interval = (ratio_interval(image_hits[counted], image_tries[counted], seed=params.seed)
                if counted.sum() >= 2 else None)
    c = params.classifier
    write_json(paths.metric_file(exp, "domain_accuracy"), {
        "metric": "domain_accuracy", "value": hits / total if total else None, "interval": interval,
        "per_domain": per_domain,
        "definition": "fraction of the translations into domain d (of test images not in d) that an independent "
                      "classifier assigns to d; input_as_is: the same for the untranslated inputs (chance level "
                      "or below); overall value: pooled over every domain",
        "classifier": {"network": "ganflow.nn.classifier.DomainClassifier", "trained_on": f"{train.folder} train split, "
                       f"selected domains, {c.val_fraction:g} held out for model selection (seed {c.seed})",
                       "kind": "one K-way classifier" if test.exclusive else "one 0/1 classifier per attribute",
                       "real_test_accuracy": real_acc, "params": c.model_dump(mode="json")},
        **common})
    print(f"evaluate: {exp}: fid per domain " + ", ".join(shown)
          + f"; domain accuracy {hits / max(total, 1):.3f} (classifier on real test images {real_acc:.3f})")


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    """One row per test input: the input, then its translation into each selected domain."""
    test = read_split(params, exp, "test")
    out = load_outputs(exp, test)
    if test.exclusive:  # inputs taken in turn from each domain, so that every domain appears as a source
        by_domain = [np.flatnonzero(test.labels[:, k] == 1) for k in range(len(test.domains))]
        picks = [g[i] for i in range(N_SHOWN) for g in by_domain if i < len(g)][:N_SHOWN]
    else:
        picks = np.linspace(0, len(test.ids) - 1, min(N_SHOWN, len(test.ids))).round().astype(int)
    tiles = []
    for i in picks:
        tiles += [test.images[i], *out["translated"][i]]
    tiles = [t[..., 0] if t.shape[-1] == 1 else t for t in tiles]
    save_grid(out_dir / "test_samples.png", tiles, ncols=1 + len(test.domains), scale=4)


def translate_image(params: Params, exp: str, model, device: torch.device, image: np.ndarray,
                    options: dict) -> np.ndarray:
    """One of the user's images into the target given by ``options["domain"]`` (a list of names).

    Exclusive domains: exactly one name.  Multi-label attributes: the names are the attributes
    switched on in the target; every other selected attribute is off.
    """
    from ganflow.data.inference import to_channels, translate_resized, translate_tiled

    _, _, domains = selected_domains(params, exp)
    wanted = list(options.get("domain") or [])
    unknown = [d for d in wanted if d not in domains]
    if unknown or not wanted:
        raise ValueError(f"name the target with --domain (one of {domains}); got {wanted or 'none'}")
    if model.cfg.labels == "exclusive" and len(wanted) != 1:
        raise ValueError(f"the domains {domains} are exclusive: give exactly one --domain, got {wanted}")
    target = torch.tensor([[float(d in wanted) for d in domains]])
    size, channels = model.info.image_size, model.info.channels

    def run(batch: np.ndarray) -> np.ndarray:
        x = to_tensor(list(batch)).to(device)
        out = _hwc(model.translate(x, target.expand(len(x), -1).to(device)).cpu())
        return out[..., 0] if batch.ndim == 3 else out  # gray batches are N x S x S

    img = to_channels(image, channels)
    if options.get("fit", "resize") == "tile":
        return translate_tiled(img, size, run)
    return translate_resized([img], size, run)[0]
