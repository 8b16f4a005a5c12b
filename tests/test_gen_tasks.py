"""dcgan, cgan and text2img through the stages (tiny sizes): train, sample, evaluate, plot.

FID needs the Inception weights (`ganflow weights`), which tests cannot download; it is tested
with the evaluation suite, and replaced here by a recording stub so that the rest of each
task's evaluation (domain-classifier accuracy, caption attributes) runs for real.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from ganflow.errors import GanflowError
import yaml

TINY_TRAIN = {"steps": 2, "batch_size": 8, "log_every": 1, "snapshot_every": 1, "checkpoint_every": 1,
              "augment_flip": False, "device": "cpu", "net": {"ngf": 4, "ndf": 4, "z_dim": 8}}
# params.yaml's cgan_projection recipe: spectrally normalised projection D, hinge, class-conditional BN in G
PROJECTION_NET = {"conditioning": "projection", "spectral_norm": True, "gan_loss": "hinge", "class_bn": True,
                  "projection_pool": "sum"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    import os

    from ganflow.params import parse_params
    from ganflow.stages import classifier, fetch, pair, text_encoder

    root = tmp_path_factory.mktemp("gen")
    old = os.getcwd()
    os.chdir(root)
    # One captioned set serves all three: its manifest has the labels the labelled task reads.
    raw = {
        "datasets": {
            "digits": {"source": "sklearn_digits_captioned", "image_size": 32,
                       "options": {"max_images": 120, "captions_per_image": 2}},
        },
        "text_encoder": {"digits": {"steps": 3, "batch_size": 16, "embed_dim": 8, "word_dim": 8,
                                              "width": 8, "device": "cpu"}},
        "classifier": {"steps": 3, "batch_size": 16, "width": 4, "eval_every": 1, "device": "cpu"},
        "experiments": {"dcgan": {"model": "dcgan", "dataset": "digits", "task": "unconditional"},
                        "cgan": {"model": "cgan", "dataset": "digits", "task": "labelled"},
                        "text2img": {"model": "text2img", "dataset": "digits", "task": "captioned"},
                        "cgan_projection": {"model": "cgan", "dataset": "digits", "task": "labelled"}},
        "train": {**{e: TINY_TRAIN for e in ("dcgan", "cgan", "text2img")},
                  "cgan_projection": {**TINY_TRAIN, "net": {**TINY_TRAIN["net"], **PROJECTION_NET}}},
        "sample": {"n_generated": 12, "per_class": 2, "batch_size": 5, "device": "cpu"},
        "evaluate": {"device": "cpu"},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    params = parse_params(raw)
    fetch.run(params, "digits")
    pair.run(params, "digits")
    classifier.run(params, "digits")
    text_encoder.run(params, "digits")
    yield root, params
    os.chdir(old)


@pytest.fixture
def no_fid(monkeypatch):
    """FID replaced by a stub that records what it was given."""
    from ganflow.stages.tasks import unconditional

    seen = {}

    def fake_write_fid(params, exp, dataset, images, common):
        seen[exp] = images
        return {"value": 1.0, "n_fake": len(images), "n_real": 0, "train_images_vs_test": {"value": 0.5}}

    monkeypatch.setattr(unconditional, "write_fid", fake_write_fid)
    for mod in ("labelled", "captioned"):
        monkeypatch.setattr(f"ganflow.stages.tasks.{mod}.write_fid", fake_write_fid)
    return seen


def _run(params, exp):
    from ganflow.stages import plot, sample, train

    train.run(params, exp, threads=1)
    sample.run(params, exp, threads=1)
    plot.run(params, exp)


def _outputs(root, exp) -> dict:
    with np.load(root / "results" / exp / "samples" / "outputs.npz") as f:
        return {k: f[k] for k in f.files}


def _check_images(root, exp, n):
    out = _outputs(root, exp)
    images = out["images"]
    assert images.shape == (n, 32, 32) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert len(list((root / "results" / exp / "samples").glob("*.png"))) == n
    snaps = sorted((root / "results" / exp / "model" / "snapshots").glob("step_*.png"))
    assert [p.name for p in snaps] == ["step_000001.png", "step_000002.png"]
    return out


def test_dcgan_end_to_end(workspace, no_fid):
    root, params = workspace
    from ganflow.stages import evaluate

    _run(params, "dcgan")
    out = _check_images(root, "dcgan", 12)
    assert out["z"].shape == (12, 8)
    plots = root / "results" / "dcgan" / "plots"
    for name in ("samples.png", "progress.png", "interpolation.png", "arithmetic.png", "losses.png"):
        assert (plots / name).is_file(), name
    arith = json.loads((plots / "arithmetic.json").read_text())
    assert set(arith["mean_ink"]) == {"z - d", "z", "z + d"}
    evaluate.run(params, "dcgan")
    assert no_fid["dcgan"].shape == (12, 32, 32)
    rec = json.loads((root / "results" / "dcgan" / "classifier.json").read_text())
    assert sum(rec["class_histogram"]) == 12 and "accuracy" not in rec  # nothing was requested


def test_dcgan_plot_reads_the_samples_a_block_at_a_time(workspace, no_fid):
    """plot on 8,000 samples holds little more at once than on 12: far under the images array
    (32 MB), so 50,000 at 64 px (2.4 GB for RGB) plot in bounded memory too.  tracemalloc sees
    numpy's buffers; the run on the 12 samples first sets the baseline (figures, font caches)."""
    import tracemalloc

    from ganflow.stages import plot

    root, params = workspace
    if not (root / "results" / "dcgan" / "samples" / "outputs.npz").is_file():
        _run(params, "dcgan")
    path = root / "results" / "dcgan" / "samples" / "outputs.npz"
    small = _outputs(root, "dcgan")
    reps = 8000 // len(small["images"]) + 1
    big = {k: np.concatenate([v] * reps)[:8000] for k, v in small.items()}

    def traced_peak() -> int:
        tracemalloc.start()
        try:
            plot.run(params, "dcgan")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    baseline = traced_peak()
    np.savez_compressed(path, **big)
    try:
        peak = traced_peak()
    finally:
        np.savez_compressed(path, **small)
    assert big["images"].nbytes == 8000 * 32 * 32 * 4
    assert peak - baseline < big["images"].nbytes / 4, \
        f"plot held {(peak - baseline) / 2**20:.1f} MiB more for 8,000 samples than for 12"
    arith = json.loads((root / "results" / "dcgan" / "plots" / "arithmetic.json").read_text())
    assert max(arith["rows"]) < 8000


def test_cgan_end_to_end_draws_every_class_and_scores_the_request(workspace, no_fid):
    root, params = workspace
    from ganflow.nn.classifier import load_classifier
    from ganflow.stages import evaluate

    _run(params, "cgan")
    out = _check_images(root, "cgan", 20)
    assert out["labels"].tolist() == [c for c in range(10) for _ in range(2)]
    assert (root / "results" / "cgan" / "plots" / "class_grid.png").is_file()
    evaluate.run(params, "cgan")
    rec = json.loads((root / "results" / "cgan" / "classifier.json").read_text())
    model, _ = load_classifier(root / "data" / "classifiers" / "digits" / "model.pt")
    predicted = model.predict_logits(out["images"][:, None]).argmax(1)
    assert rec["accuracy"] == pytest.approx(float((predicted == out["labels"]).mean()))
    iv = rec["accuracy_interval"]
    assert iv["low"] <= rec["accuracy"] <= iv["high"] and iv["n"] == 20 and iv["seed"] == params.seed
    per_class = rec["per_class_accuracy"]
    assert sorted(per_class) == [str(d) for d in range(10)]
    assert np.mean(list(per_class.values())) == pytest.approx(rec["accuracy"])

    # ganflow tables: the accuracy with its interval, and the worst class
    from ganflow.stages import tables

    row = next(line for line in tables.render(root / "results", {"cgan": ("labelled", "digits")}).splitlines()
               if line.startswith("| cgan, "))
    worst = min(per_class.items(), key=lambda kv: kv[1])
    assert row.split(" | ")[1:3] == [tables.with_interval(rec["accuracy"], iv, 3), f'"{worst[0]}": {tables.num(worst[1], 2)}']


def test_spectrally_normed_projection_cgan_saves_loads_and_samples_through_the_stages(workspace, no_fid):
    """The SN parametrisation and the class-conditional BN survive the checkpoint: the stages'
    reloaded model is the trained one (same samples), and evaluate scores its requests."""
    root, params = workspace
    import torch
    from torch.nn.utils.parametrize import is_parametrized

    from ganflow.stages import evaluate
    from ganflow.stages.tasks.unconditional import run_generator, trained_model

    _run(params, "cgan_projection")
    out = _check_images(root, "cgan_projection", 20)
    model = trained_model(params, "cgan_projection")
    assert model.cfg.spectral_norm and any(is_parametrized(m, "weight") for m in model.D.modules())
    again = run_generator(model, torch.device("cpu"), {"z": torch.from_numpy(out["z"]),
                                                       "y": torch.from_numpy(out["labels"])}, 5)
    np.testing.assert_allclose(again, out["images"], atol=1e-6)
    evaluate.run(params, "cgan_projection")
    rec = json.loads((root / "results" / "cgan_projection" / "classifier.json").read_text())
    assert rec["n"] == 20 and 0 <= rec["accuracy"] <= 1


def test_text2img_end_to_end_samples_every_test_caption(workspace, no_fid):
    root, params = workspace
    import pandas as pd

    from ganflow.data import captions as cap
    from ganflow.stages import evaluate

    _run(params, "text2img")
    manifest = pd.read_csv(root / "data" / "pairs" / "digits" / "manifest.csv")
    test = manifest[manifest["split"] == "test"]
    out = _check_images(root, "text2img", 2 * len(test))
    assert out["captions"].tolist() == [c for t in test["captions"] for c in t.split(" | ")]
    assert [cap.parse_digit(c) for c in out["captions"]] == out["labels"].tolist()
    plots = root / "results" / "text2img" / "plots"
    for name in ("samples.png", "caption_interpolation.png", "interpolation.png", "attribute_sweep.png"):
        assert (plots / name).is_file(), name
    evaluate.run(params, "text2img")
    rec = json.loads((root / "results" / "text2img" / "classifier.json").read_text())
    assert rec["n"] == len(out["images"]) and 0 <= rec["accuracy"] <= 1
    attrs = json.loads((root / "results" / "text2img" / "caption_attributes.json").read_text())
    for p in cap.PROPERTIES:
        # The real test images meet their own captions (up to 8-bit rounding at a threshold).
        assert attrs["per_property"][p]["real_test_images"] >= 0.9
        assert 0 <= attrs["per_property"][p]["agreement"] <= 1


def test_text2img_without_an_encoder_says_which_stage_to_run(workspace, tmp_path, monkeypatch):
    root, params = workspace
    from ganflow.stages.tasks import captioned

    monkeypatch.setattr(captioned.paths, "text_encoder_dir", lambda ds: tmp_path / "nowhere")
    with pytest.raises(GanflowError, match="ganflow text_encoder --dataset digits"):
        captioned.training_tensors(params, "text2img")
