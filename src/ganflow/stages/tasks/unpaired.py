"""Unpaired translation (cyclegan): domains A and B of data/pairs/<dataset>/, no pairs in training.

  train     {"A": train images of A, "B": train images of B} in [-1, 1]; when the domains differ
            in size, the smaller one is topped up with a seeded draw of its own images
  sample    every test image of A translated to B and back, and every test image of B to A and
            back: samples/A2B/<id>.png, samples/B2A/<id>.png, and outputs.npz (ids_A, fake_B,
            rec_A, ids_B, fake_A, rec_B; float32 [0, 1], N x H x W x C)
  evaluate  fid.json: FID per direction (translations vs the real test images of the target
            domain), beside the untranslated inputs' FID; rmse.json, where dataset.json declares
            truth pairs for the test split (the offline photo/sketch set does): RMSE per direction
            against the truth, beside two no-learning baselines, and the cycle's RMSE; each
            direction's FID and RMSE with a bootstrap interval (metrics/bootstrap.py); FID also
            for the target domain's mean training image (mean_target) in place of every translation.
            label_preservation.json, where the data set labels its images (digit_fonts does): the
            domain classifier of the data set (`ganflow classifier --dataset NAME`, trained on the
            real training images of both domains with their labels, never on a generator's output)
            on every translation, beside the same classifier on the untranslated inputs and on the
            target domain's mean image (metrics/label_preservation.py)
  plot      test_samples.png: input / translated / reconstructed (/ truth) rows, A -> B then B -> A

Truth pairs (dataset.json ``truth_pairs``): test ids ``<key><suffix A>`` in A and
``<key><suffix B>`` in B are two views of one thing, e.g. ``coffee_r0c1_k3_A`` / ``..._B``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import write_json
from ganflow.data.images import ImageError, load_image, save_image
from ganflow.data.tensors import to_images, to_tensor
from ganflow.errors import DataError
from ganflow.metrics.bootstrap import fid_interval, rmse_interval
from ganflow.metrics.label_preservation import label_preservation
from ganflow.metrics.pixels import rmse
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.provenance import hash_tree
from ganflow.report.grids import save_grid
from ganflow.stages import paths
from ganflow.stages.tasks.common import (fid_provenance, fid_value, generated_set, load_domain_classifier, nchw,
                                         read_layout_set, reference_set, run_provenance)
from ganflow.train.device import pick_device

# The stage graph's view of this task (stages/graph.py wires the stages from these):
DATASET_INPUTS = ("pairs",)  # per-dataset artifacts its stages read (pairs, masked, text_encoder)
METRICS = ("fid", "rmse")  # evaluate's files: results/<exp>/<metric>.json
SCORED_BY_CLASSIFIER = True  # on a labelled data set, evaluate also reads its domain classifier
CLASSIFIER_METRIC = "label_preservation"  # ... and writes its scores to results/<exp>/label_preservation.json
EXPORTS_SUBMISSION = False  # `ganflow export` writes the course's submission CSV
EVALUATE_READS = ()  # params sections evaluate reads beyond evaluate, seed and the experiment's own

DOMAINS = ("A", "B")
DIRECTIONS = {"A2B": ("A", "B"), "B2A": ("B", "A")}  # name -> (input domain, target domain)
N_SHOWN = 10


def read_set(dataset: str) -> tuple[Path, pd.DataFrame, dict]:
    """(folder, manifest, dataset.json) of an unpaired data/pairs/<dataset>/, checked."""
    folder, manifest, meta = read_layout_set(dataset, "unpaired", ("id", "split", "domain", "image"), "")
    manifest_file = folder / "manifest.csv"
    bad = manifest[~manifest["domain"].isin(DOMAINS)]
    if len(bad):
        raise DataError(f"{manifest_file}, line {bad.index[0] + 2} (id {bad['id'].iloc[0]}): "
                         f"domain {bad['domain'].iloc[0]!r} is not A or B")
    return folder, manifest, meta


def load_domain(folder: Path, manifest: pd.DataFrame, split: str, domain: str,
                channels: int) -> tuple[list[str], list[np.ndarray]]:
    rows = manifest[(manifest["split"] == split) & (manifest["domain"] == domain)].sort_values("id")
    if rows.empty:
        raise DataError(f"{folder / 'manifest.csv'}: no {split} images in domain {domain}")
    images = []
    for r in rows.itertuples():
        try:
            images.append(load_image(folder / r.image, channels))
        except ImageError as e:
            raise DataError(f"{e} (manifest id {r.id})") from None
    return list(rows["id"]), images


def _top_up(t: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """t with n - len(t) of its own rows appended (a seeded draw without replacement, cycling)."""
    if len(t) >= n:
        return t
    g = torch.Generator().manual_seed(seed)
    extra = torch.cat([torch.randperm(len(t), generator=g) for _ in range(-(-(n - len(t)) // len(t)))])
    return torch.cat([t, t[extra[:n - len(t)]]])


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    dataset = params.experiment(exp).dataset
    folder, manifest, meta = read_set(dataset)
    a = to_tensor(load_domain(folder, manifest, "train", "A", meta["channels"])[1])
    b = to_tensor(load_domain(folder, manifest, "train", "B", meta["channels"])[1])
    # The batch stream draws the same indices from every tensor: equal sizes are needed, and
    # since A[i] and B[i] are unrelated images, pairing them by index gives no pair away.
    n = max(len(a), len(b))
    if len(a) != len(b):
        print(f"train: {exp}: domain sizes differ (A {len(a)}, B {len(b)}); the smaller is topped up to {n} "
              "with a seeded draw of its own images")
    seed = params.train[exp].seed
    a, b = _top_up(a, n, seed), _top_up(b, n, seed + 1)
    # A seeded shuffle, so that the training snapshots' fixed first 16 are not all from one photo.
    g = torch.Generator().manual_seed(seed)
    tensors = {"A": a[torch.randperm(n, generator=g)], "B": b[torch.randperm(n, generator=g)]}
    return folder, tensors, DataInfo(channels=meta["channels"], image_size=meta["image_size"])


def _run(model, domain: str, x: torch.Tensor, device: torch.device, bs: int) -> dict[str, torch.Tensor]:
    parts = [model.translate({domain: x[i:i + bs].to(device)}) for i in range(0, len(x), bs)]
    return {k: torch.cat([p[k].cpu() for p in parts]) for k in parts[0]}


def _stack(t: torch.Tensor) -> np.ndarray:
    """N x C x H x W in [-1, 1] -> N x H x W x C float32 in [0, 1] (C kept, also when 1)."""
    return ((t.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy().astype(np.float32)


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    folder, manifest, meta = read_set(params.experiment(exp).dataset)
    arrays = {}
    for name, (src, dst) in DIRECTIONS.items():
        ids, images = load_domain(folder, manifest, "test", src, meta["channels"])
        out = _run(model, src, to_tensor(images), device, params.sample.batch_size)
        for image_id, img in zip(ids, to_images(out[f"fake_{dst}"])):
            save_image(out_dir / name / f"{image_id}.png", img)
        arrays.update({f"ids_{src}": np.array(ids), f"fake_{dst}": _stack(out[f"fake_{dst}"]),
                       f"rec_{src}": _stack(out[f"rec_{src}"])})
    np.savez_compressed(out_dir / "outputs.npz", **arrays)


def _hwc(images: list[np.ndarray]) -> np.ndarray:
    return np.stack([im[..., None] if im.ndim == 2 else im for im in images]).astype(np.float32)


def truth_pairs(meta: dict, ids_src: list[str], src: str, ids_dst: list[str], dst: str) -> list[tuple[int, int]]:
    """(index in ids_src, index in ids_dst) of the test truth pairs that dataset.json declares."""
    rule = meta.get("truth_pairs")
    if not rule:
        return []
    sfx = rule.get("id_suffix", {"A": "_A", "B": "_B"})
    where = {i[:-len(sfx[dst])]: k for k, i in enumerate(ids_dst) if i.endswith(sfx[dst])}
    return [(k, where[i[:-len(sfx[src])]]) for k, i in enumerate(ids_src)
            if i.endswith(sfx[src]) and i[:-len(sfx[src])] in where]


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    folder, manifest, meta = read_set(dataset)
    out = np.load(paths.samples_dir(exp) / "outputs.npz")
    real = {d: load_domain(folder, manifest, "test", d, meta["channels"]) for d in DOMAINS}
    for d in DOMAINS:
        if list(out[f"ids_{d}"]) != real[d][0]:
            raise DataError(f"{paths.samples_dir(exp)}/outputs.npz does not hold the test images of domain {d} "
                             f"of {folder}; rerun `ganflow sample --exp {exp}`")
    imgs = {d: _hwc(real[d][1]) for d in DOMAINS}
    common = {"dataset": dataset, "samples_sha256": hash_tree(paths.samples_dir(exp) / "outputs.npz"),
              **run_provenance(exp)}

    ref = {d: reference_set(params, imgs[d], f"{folder}/test/{d}") for d in DOMAINS}
    train_mean = {d: _hwc(load_domain(folder, manifest, "train", d, meta["channels"])[1]).mean(axis=0)
                  for d in DOMAINS}
    fid, shown = {}, []
    for name, (src, dst) in DIRECTIONS.items():
        fake = generated_set(params, out[f"fake_{dst}"], f"{paths.samples_dir(exp)}/outputs.npz:fake_{dst}")
        # Copies of one image have one feature vector (zero spread): two copies make that set.
        mean_set = generated_set(params, np.stack([train_mean[dst]] * 2), f"mean training image of {dst}")
        fid[name] = {"value": fid_value(ref[dst], fake),
                     "interval": fid_interval(ref[dst].features, fake.features, seed=params.seed),
                     "input_as_is": fid_value(ref[dst], ref[src]),
                     "mean_target": fid_value(ref[dst], mean_set),
                     "n_real": ref[dst].n, "n_fake": fake.n, "reference": f"real test images of domain {dst}",
                     "reference_images_sha256": ref[dst].stats.images_sha256}
        shown.append(f"{name} {fid[name]['value']:.2f} (as is {fid[name]['input_as_is']:.2f})")
    write_json(paths.metric_file(exp, "fid"), {
        "metric": "fid", **{k: v["value"] for k, v in fid.items()}, "directions": fid,
        "definition": "FID between the translations of every test image of the input domain and the real test "
                      "images of the target domain; input_as_is: the untranslated inputs instead; "
                      "mean_target: the target domain's mean training image in place of every translation",
        **fid_provenance(), **common})
    if meta.get("classes"):
        shown.append(_label_preservation(params, exp, dataset, folder, manifest, meta, out, imgs, train_mean,
                                         fid, common))

    rm = {}
    for name, (src, dst) in DIRECTIONS.items():
        pairs = truth_pairs(meta, real[src][0], src, real[dst][0], dst)
        cycle = rmse(out[f"rec_{src}"], imgs[src])
        if not pairs:
            rm[name] = {"value": None, "cycle": cycle, "note": "no truth pairs declared in dataset.json"}
            continue
        i, j = (np.array(v) for v in zip(*pairs))
        truth = imgs[dst][j]
        rm[name] = {"value": rmse(out[f"fake_{dst}"][i], truth),
                    "interval": rmse_interval(out[f"fake_{dst}"][i], truth, seed=params.seed) if len(pairs) >= 2 else None,
                    "input_as_is": rmse(imgs[src][i], truth),
                    "mean_target": rmse(np.broadcast_to(train_mean[dst], truth.shape), truth),
                    "cycle": cycle, "n_pairs": len(pairs)}
        shown.append(f"rmse {name} {rm[name]['value']:.4f} (mean target {rm[name]['mean_target']:.4f})")
    write_json(paths.metric_file(exp, "rmse"), {
        "metric": "rmse", **{k: v["value"] for k, v in rm.items()}, "directions": rm,
        "definition": "sqrt(mean((translation - truth)^2)) over every pixel of the test truth pairs, values in "
                      "[0, 1]; input_as_is: the untranslated input against the truth; mean_target: the mean "
                      "training image of the target domain; cycle: the reconstruction G_back(G(x)) against x "
                      "over every test input",
        "truth_pairs": meta.get("truth_pairs"), **common})
    print(f"evaluate: {exp}: fid " + "; ".join(shown))


def _label_preservation(params: Params, exp: str, dataset: str, folder: Path, manifest: pd.DataFrame, meta: dict,
                        out, imgs: dict, train_mean: dict, fid: dict, common: dict) -> str:
    """label_preservation.json: the data set's classifier on translations, inputs and mean images."""
    if "label" not in manifest.columns:
        raise DataError(f"{folder / 'manifest.csv'}: dataset.json lists classes but the manifest has no 'label' column")
    model, cmeta, provenance = load_domain_classifier(dataset)
    want = (meta["channels"], meta["image_size"], meta["image_size"])
    if (cmeta["channels"], cmeta["image_size"], cmeta["image_size"]) != want:
        raise DataError(f"the {dataset} classifier takes {cmeta['channels']} x {cmeta['image_size']} x "
                        f"{cmeta['image_size']} images; the data set's are {want[0]} x {want[1]} x {want[2]}: "
                        f"rerun `ganflow classifier --dataset {dataset}`")
    device, k = pick_device(params.evaluate.device), len(meta["classes"])

    def classes_of(images: np.ndarray) -> np.ndarray:
        return model.predict_logits(nchw(images), batch_size=params.evaluate.batch_size, device=device).argmax(axis=1)

    label_of = dict(zip(manifest["id"], manifest["label"]))
    directions, shown = {}, []
    for name, (src, dst) in DIRECTIONS.items():
        ids = list(out[f"ids_{src}"])
        try:
            labels = np.array([int(label_of[i]) for i in ids], dtype=np.int64)
        except (KeyError, ValueError) as e:
            raise DataError(f"{folder / 'manifest.csv'}: test image {e} of domain {src} has no integer label") from None
        rec = label_preservation(classes_of(out[f"fake_{dst}"]), classes_of(imgs[src]),
                                 int(classes_of(train_mean[dst][None])[0]), labels, k, seed=params.seed)
        target_ids = list(out[f"ids_{dst}"])
        real_target = classes_of(imgs[dst]) == np.array([int(label_of[i]) for i in target_ids])
        rec["real_target"] = float(real_target.mean())  # how well it reads the target style itself
        rec["fid"] = {key: fid[name][key] for key in ("value", "input_as_is", "mean_target")}
        directions[name] = rec
        shown.append(f"labels kept {name} {rec['accuracy']:.1%} (as is {rec['input_as_is']['accuracy']:.1%}, "
                     f"mean target {rec['mean_target']['accuracy']:.1%})")
    write_json(paths.metric_file(exp, CLASSIFIER_METRIC), {
        "metric": CLASSIFIER_METRIC, "value": {n: r["accuracy"] for n, r in directions.items()},
        "directions": directions, "classes": list(meta["classes"]),
        "definition": "fraction of the translations of the test images of the input domain that the data set's "
                      "classifier assigns to their input's label; input_as_is: the same classifier on the "
                      "untranslated inputs; mean_target: on the target domain's mean training image in place of "
                      "every translation (one class for all: chance level); real_target: its accuracy on the real "
                      "test images of the target domain; fid: fid.json's numbers of the direction, for reading "
                      "side by side; confusion_matrix rows: input label, columns: class of the translation",
        "classifier_independence": "trained by `ganflow classifier` on the real training images of both domains "
                                   "with their labels (data/pairs/<dataset> train split), before and apart from "
                                   "the generators; it never sees a translation",
        **provenance, "metric_seed": params.seed, **common})
    return "; ".join(shown)


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    """Per direction, one row each: inputs, translations, reconstructions (and the truth, where known)."""
    folder, manifest, meta = read_set(params.experiment(exp).dataset)
    out = np.load(paths.samples_dir(exp) / "outputs.npz")
    rows = []
    for name, (src, dst) in DIRECTIONS.items():
        if rows:
            rows.append([])  # a blank row between the two directions
        ids, images = load_domain(folder, manifest, "test", src, meta["channels"])
        pick = np.linspace(0, len(ids) - 1, min(N_SHOWN, len(ids))).round().astype(int)
        inputs = _hwc(images)
        rows += [[inputs[k] for k in pick], [out[f"fake_{dst}"][k] for k in pick], [out[f"rec_{src}"][k] for k in pick]]
        dst_ids, dst_images = load_domain(folder, manifest, "test", dst, meta["channels"])
        where = dict(truth_pairs(meta, ids, src, dst_ids, dst))
        if all(k in where for k in pick):
            rows.append([_hwc(dst_images)[where[k]] for k in pick])
    width = max(len(r) for r in rows)
    blank = np.full_like(rows[0][0], 0.5)
    tiles = [im[..., 0] if im.shape[-1] == 1 else im for r in rows for im in r + [blank] * (width - len(r))]
    save_grid(out_dir / "test_samples.png", tiles, ncols=width, scale=3)


def translate_image(params: Params, exp: str, model, device: torch.device, image: np.ndarray,
                    options: dict) -> np.ndarray:
    """One of the user's images through G_A (direction A2B, the default) or G_B (B2A).

    ``fit: resize`` brings the whole picture to the model's size and back; ``fit: tile`` runs
    large images in overlapping model-size tiles (the generators are fully convolutional).
    """
    from ganflow.data.inference import to_channels, translate_resized, translate_tiled

    direction = options.get("direction") or "A2B"
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: use A2B or B2A")
    src, dst = DIRECTIONS[direction]
    size, channels = model.info.image_size, model.info.channels

    def run(batch: np.ndarray) -> np.ndarray:
        out = model.translate({src: to_tensor(list(batch)).to(device)})[f"fake_{dst}"].cpu()
        return np.stack(to_images(out))

    img = to_channels(image, channels)
    if options.get("fit", "resize") == "tile":
        return translate_tiled(img, size, run)
    return translate_resized([img], size, run)[0]
