"""Text to image (text2img): a caption and noise in, an image that fits the caption out.

Captions enter as embeddings from the data set's text encoder (`ganflow text_encoder`,
data/text_encoders/<dataset>/encoder.pt), computed here once; the GAN never sees words.

  train     {"x": images, "text": (N, K, d) embeddings of each image's K captions, "y": labels}
            (an image with fewer than K captions repeats its own, so every image counts once)
  sample    one image per caption of every test image: samples/<id>.png + outputs.npz
            (ids, images float32 [0, 1], captions, labels: the class named, source ids, z)
  evaluate  fid.json (samples vs the test split); classifier.json: how often the domain classifier
            recognises the class the caption names; for the digits captions also
            caption_attributes.json: thickness, slant and width measured on each sample against
            the level its caption asked for, beside chance and the real test images
  plot      samples.png (with captions), progress.png, caption_interpolation.png (two captions,
            one z), interpolation.png (two z, one caption), attribute_sweep.png (one word
            changed at a time), arithmetic.png (+ arithmetic.json)
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch

from ganflow.data import captions as cap
from ganflow.data.images import resize
from ganflow.data.tensors import to_tensor
from ganflow.errors import DataError, MissingInputError, ParamsError
from ganflow.hashing import sha256_file
from ganflow.models.base import DataInfo
from ganflow.nn.text_encoder import CaptionEmbedder, load_text_encoder
from ganflow.params import Params
from ganflow.stages import paths
from ganflow.stages.tasks.common import classifier_record, write_metric
from ganflow.stages.tasks.labelled import per_class_accuracy
from ganflow.stages.tasks.unconditional import PROGRESS_PICTURE as PROGRESS_PICTURE  # noise snapshots too
from ganflow.stages.tasks.unconditional import (
    N_INTERP_STEPS,
    classes_of,
    floor_of,
    ink,
    labels_of,
    latent_arithmetic,
    load_outputs,
    metric_common,
    read_meta,
    read_split,
    run_generator,
    slerp,
    split_captions,
    titled_grid,
    trained_model,
    write_fid,
    write_samples,
    z_dim_of,
)

# The stage graph's view of this task (stages/graph.py wires the stages from these):
DATASET_INPUTS = ("pairs", "text_encoder")  # per-dataset artifacts its stages read (pairs, masked, text_encoder)
METRICS = ("fid", "caption_attributes", "precision_recall", "memorisation")  # evaluate's files: results/<exp>/<metric>.json
SCORED_BY_CLASSIFIER = True  # on a labelled data set, evaluate also reads its domain classifier
EXPORTS_SUBMISSION = False  # `ganflow export` writes the course's submission CSV
EVALUATE_READS = ()  # params sections evaluate reads beyond evaluate, seed and the experiment's own

N_CAPTIONED = 16
N_CAPTION_PAIRS = 5


def embedder_of(dataset: str) -> tuple[CaptionEmbedder, Path]:
    path = paths.text_encoder_dir(dataset) / "encoder.pt"
    try:
        embedder, _ = load_text_encoder(path)
    except FileNotFoundError:
        raise MissingInputError(f"{path} is missing; run `ganflow text_encoder --dataset {dataset}` first") from None
    except ValueError as e:
        raise DataError(str(e)) from None
    return embedder, path


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    rows, images = read_split(dataset, "train")
    cap_lists = split_captions(rows, dataset)
    k = max(map(len, cap_lists))
    caps = [[c[i % len(c)] for i in range(k)] for c in cap_lists]  # cycle short lists up to K
    embedder, _ = embedder_of(dataset)
    text = embedder([c for row in caps for c in row]).reshape(len(caps), k, embedder.dim)
    x = to_tensor(list(images))
    tensors = {"x": x, "text": text}
    n_classes = len(meta["classes"]) if isinstance(meta.get("classes"), list) else 0
    if n_classes >= 2 and "label" in rows.columns:
        tensors["y"] = torch.from_numpy(labels_of(rows, dataset, n_classes))
    info = DataInfo(channels=x.shape[1], image_size=meta["image_size"], n_classes=n_classes, text_dim=embedder.dim)
    return paths.pairs_dir(dataset), tensors, info


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    rows, _ = read_split(dataset, "test")
    cap_lists = split_captions(rows, dataset)
    texts = [c for caps in cap_lists for c in caps]
    source = [i for i, caps in zip(rows["id"], cap_lists) for _ in caps]
    ids = [f"{i}_c{k}" for i, caps in zip(rows["id"], cap_lists) for k in range(len(caps))]
    if isinstance(meta.get("classes"), list) and "label" in rows.columns:
        per_row = labels_of(rows, dataset, len(meta["classes"]))
        labels = np.array([lab for lab, caps in zip(per_row, cap_lists) for _ in caps], dtype=np.int64)
    else:
        labels = np.full(len(texts), -1, dtype=np.int64)
    embedder, enc_path = embedder_of(dataset)
    z = torch.randn(len(texts), z_dim_of(model))
    images = run_generator(model, device, {"z": z, "text": embedder(texts)}, params.sample.batch_size)
    write_samples(out_dir, ids, images, captions=np.array(texts), labels=labels, source_ids=np.array(source),
                  z=z.numpy(), text_encoder_sha256=np.array(sha256_file(enc_path)))


def requested_classes(captions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The class each caption names: the digit it spells out where it names one, else its image's label."""
    named = [cap.parse_digit(str(c)) for c in captions]
    return np.array([n if n is not None else lab for n, lab in zip(named, labels)], dtype=np.int64)


def attribute_agreement(images: np.ndarray, captions: np.ndarray, classes: np.ndarray, record: dict,
                        seed: int) -> dict:
    """Per property: how often the level measured on an image equals the level its caption asked for.

    Levels come from the thresholds of the requested class (dataset.json "captions"), measured at
    the resolution the captions were made at.  Chance is the same count with the captions
    shuffled among images of the same class (what a G that ignored all but the class would get).
    """
    size = int(record.get("measure_size", images.shape[1]))
    thresholds = {int(k): v for k, v in record["thresholds"].items()}
    measured = []
    for img, c in zip(images, classes):
        props = cap.measure(resize(np.asarray(img, np.float32), size) if img.shape[0] != size else img)
        measured.append(cap.levels(props, {p: tuple(t) for p, t in thresholds[int(c)].items()}))
    asked = [cap.parse_levels(str(t)) for t in captions]
    rng = np.random.default_rng(seed)
    shuffled = np.arange(len(asked))
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        shuffled[idx] = rng.permutation(idx)
    out = {}
    for p in cap.PROPERTIES:
        ok = [i for i, a in enumerate(asked) if a[p] is not None]
        if not ok:
            continue
        got = np.array([measured[i][p] for i in ok])
        want = np.array([asked[i][p] for i in ok])
        chance = np.array([asked[shuffled[i]][p] if asked[shuffled[i]][p] is not None else -1 for i in ok])
        out[p] = {"agreement": float((got == want).mean()), "shuffled_captions": float((got == chance).mean()),
                  "n": len(ok)}
    return out


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    if params.evaluate.n_samples is not None:  # the caption and classifier scores below read every sample
        raise ParamsError(f"evaluate.n_samples is {params.evaluate.n_samples}; experiment {exp!r} (text2img) scores "
                          f"every sample it wrote: set evaluate.n_samples to null (it subsets dcgan and cgan)")
    out = load_outputs(exp)
    common = {**metric_common(exp, dataset), "text_encoder_sha256": str(out["text_encoder_sha256"])}
    fid = write_fid(params, exp, dataset, out["images"], common)
    line = f"evaluate: {exp}: fid {fid['value']:.2f} (real images {floor_of(fid)['value']:.2f})"
    if isinstance(meta.get("classes"), list):
        classes = classes_of(meta, dataset)
        asked = requested_classes(out["captions"], out["labels"])
        rec = classifier_record(params, dataset, out["images"], asked)
        rec["per_class_accuracy"] = per_class_accuracy(params, dataset, out["images"], asked, classes)
        rec["accuracy_meaning"] = "fraction of samples the domain classifier assigns to the class their caption names"
        write_metric(exp, "classifier", {**rec, **common})
        line += f"; the class the caption names is recognised in {rec['accuracy']:.1%} of {rec['n']} samples"
        record = meta.get("captions", {})
        if "thresholds" in record:
            agree = attribute_agreement(out["images"], out["captions"], asked, record, params.seed)
            rows, test_images = read_split(dataset, "test")
            cap_lists = split_captions(rows, dataset)
            real_caps = np.array([c for caps in cap_lists for c in caps])
            real_imgs = np.stack([img for img, caps in zip(test_images, cap_lists) for _ in caps])
            real_labels = np.repeat(labels_of(rows, dataset, len(classes)), [len(c) for c in cap_lists])
            real = attribute_agreement(real_imgs, real_caps, requested_classes(real_caps, real_labels), record,
                                       params.seed)
            for p in agree:
                agree[p]["real_test_images"] = real[p]["agreement"]
            write_metric(exp, "caption_attributes", {
                "metric": "caption_attributes",
                "value": float(np.mean([a["agreement"] for a in agree.values()])),
                "per_property": agree,
                "method": "thickness, slant and width measured on each sample (ganflow/data/captions.py), turned "
                          "into levels by the terciles of the requested class (dataset.json captions.thresholds), "
                          "compared with the level the caption's words ask for",
                "chance": "shuffled_captions: the same with captions shuffled among samples of one class",
                "ceiling": "real_test_images: the test images against their own captions (8-bit PNG rounding "
                           "moves a few across a threshold)",
                "n_fake": len(out["images"]), **common})
            line += "; caption words met: " + ", ".join(
                f"{p} {a['agreement']:.0%} (shuffled {a['shuffled_captions']:.0%})" for p, a in agree.items())
    print(line)


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    out = load_outputs(exp)
    model = trained_model(params, exp)
    embedder, _ = embedder_of(dataset)
    cpu = torch.device("cpu")

    # Captioned samples: every 4th, so that different test images show.
    pick = np.arange(0, len(out["images"]), max(1, len(out["images"]) // N_CAPTIONED))[:N_CAPTIONED]
    rows = [[out["images"][i] for i in pick[r:r + 4]] for r in range(0, len(pick), 4)]
    labels = [textwrap.fill(str(out["captions"][i]), 28) for i in pick]
    _captioned_grid(out_dir / "samples.png", rows, labels, f"{exp}: test captions -> samples")

    z = torch.from_numpy(out["z"])
    caps = [str(c) for c in out["captions"]]
    # Caption interpolation: one z, embeddings moving from caption a to caption b (GAN-INT's premise).
    order = np.random.default_rng(params.seed).permutation(len(caps))
    pairs = [(caps[order[2 * i]], caps[order[2 * i + 1]]) for i in range(N_CAPTION_PAIRS)]
    t = torch.linspace(0, 1, N_INTERP_STEPS)[:, None]
    grid = []
    for a, b in pairs:
        ea, eb = embedder([a, b])
        grid.append(run_generator(model, cpu, {"z": z[:1].repeat(N_INTERP_STEPS, 1),
                                               "text": (1 - t) * ea + t * eb}, N_INTERP_STEPS))
    titled_grid(out_dir / "caption_interpolation.png", grid,
                f"{exp}: one z, caption embedding from left caption to right caption",
                row_labels=[textwrap.fill(f"{a}\n-> {b}", 34) for a, b in pairs], cell=0.8)

    text = embedder(caps[:N_CAPTION_PAIRS])
    rows = [run_generator(model, cpu, {"z": slerp(z[2 * i], z[2 * i + 1], N_INTERP_STEPS),
                                       "text": text[i:i + 1].repeat(N_INTERP_STEPS, 1)}, N_INTERP_STEPS)
            for i in range(N_CAPTION_PAIRS)]
    titled_grid(out_dir / "interpolation.png", rows, f"{exp}: between two z (left to right), caption fixed per row",
                row_labels=[textwrap.fill(c, 34) for c in caps[:N_CAPTION_PAIRS]])

    if "thresholds" in meta.get("captions", {}):
        _attribute_sweep(model, embedder, z[0], out_dir / "attribute_sweep.png", exp)
    groups = requested_classes(out["captions"], out["labels"]) if isinstance(meta.get("classes"), list) else None
    latent_arithmetic(model, z, ink(out["images"]), {"text": embedder(caps)}, out_dir, exp, groups=groups)


def _attribute_sweep(model, embedder: CaptionEmbedder, z: torch.Tensor, path: Path, exp: str) -> None:
    """Rows: digits; columns: one property's three words, the others held at their middle level."""
    cols, texts = [], []
    for prop in cap.PROPERTIES:
        for lvl in range(3):
            cols.append(cap.WORDS[prop][lvl][0])
    for digit in range(10):
        for prop in cap.PROPERTIES:
            for lvl in range(3):
                level = {p: 1 for p in cap.PROPERTIES}
                level[prop] = lvl
                texts.append(cap.describe(digit, level))
    images = run_generator(model, torch.device("cpu"), {"z": z[None].repeat(len(texts), 1), "text": embedder(texts)}, 64)
    rows = [images[i:i + len(cols)] for i in range(0, len(images), len(cols))]
    titled_grid(path, rows, f"{exp}: one z; captions '{cap.describe(0, {p: 1 for p in cap.PROPERTIES})}' "
                            "with one word changed per column", row_labels=[f"digit {d}" for d in range(10)],
                col_labels=cols)


def _captioned_grid(path: Path, rows: list, labels: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganflow.atomic import atomic_path

    nr, nc = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(nr, nc, figsize=(nc * 2.2, nr * 2.3 + 0.4), squeeze=False)
    k = 0
    for r in range(nr):
        for c in range(nc):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(rows[r]):
                ax.axis("off")
                continue
            img = rows[r][c]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(labels[k], fontsize=6)
            k += 1
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


# -- ganflow generate: the optional hook (stages/tasks/__init__.py) ----------------------------------


def generate_images(params: Params, exp: str, model, device: torch.device, n: int,
                    options: dict) -> dict[str, np.ndarray]:
    """n images of options["caption"] (words the text encoder never saw count as unknown),
    named caption_0000..."""
    from ganflow.stages.tasks.unconditional import seeded_noise

    dataset = params.experiment(exp).dataset
    caption = (options.get("caption") or "").strip()
    if options.get("class") is not None:
        raise ValueError(f"experiment {exp!r} draws a caption: use --caption TEXT, not --class")
    if not caption:
        rows, _ = read_split(dataset, "test")
        examples = [caps[0] for caps in split_captions(rows, dataset)[:3]]
        raise ValueError(f"experiment {exp!r} draws a caption: give --caption TEXT, e.g. {examples}")
    embedder, _ = embedder_of(dataset)
    z = seeded_noise(n, z_dim_of(model), options.get("seed") or 0)
    images = run_generator(model, device, {"z": z, "text": embedder([caption] * n)}, params.sample.batch_size)
    return {f"caption_{i:04d}": img for i, img in enumerate(images)}
