"""The pix2pix networks, the one training loop, resume and checkpoints."""
from __future__ import annotations

import pickle

import pytest

from ganflow.errors import GanflowError
import torch

from ganflow.data.tensors import BatchStream
from ganflow.models.base import DataInfo
from ganflow.models.pix2pix import Pix2Pix, Pix2PixConfig
from ganflow.nn.patchgan import PatchDiscriminator
from ganflow.nn.unet import UNetGenerator
from ganflow.train.checkpoint import load_checkpoint, params_diff, save_checkpoint
from ganflow.train.loop import LoopSettings, NonFiniteLoss, train
from ganflow.train.step import train_step


def test_unet_shapes_and_skip_connections():
    g = UNetGenerator(1, 1, image_size=32, ngf=8)
    x = torch.randn(2, 1, 32, 32)
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert len(g.down) == 5  # log2(32): down to a 1x1 bottleneck


def test_patchgan_gives_a_map_of_scores():
    d = PatchDiscriminator(2, ndf=8, n_layers=3)
    assert d(torch.randn(2, 2, 64, 64)).shape == (2, 1, 6, 6)


def _model(seed=0, **cfg):
    torch.manual_seed(seed)
    return Pix2Pix(Pix2PixConfig(ngf=8, ndf=8, **cfg), DataInfo(1, 32), 2e-4, (0.5, 0.999))


def _data(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    a = b.clone()
    a[:, :, 20:26, 8:24] = 1.0
    return {"A": a, "B": b}


def test_one_step_has_finite_named_terms():
    m = _model()
    batch = {k: v[:4] for k, v in _data().items()}
    terms = train_step(m, batch, 0)
    assert all(torch.isfinite(v) for v in terms.values())
    assert list(terms) == ["D_total", "D_real", "D_fake", "G_total", "G_gan", "G_rec"]


def _settings(steps, every=2, channels_last=False):
    return LoopSettings(steps=steps, log_every=1, snapshot_every=1, checkpoint_every=every,
                        device=torch.device("cpu"), amp=False, channels_last=channels_last)


def _run(tmp_path, steps, name, crash_at=None, start=None, channels_last=False, **cfg):
    torch.manual_seed(0)
    m = _model(**cfg)
    stream = BatchStream(_data(), batch_size=4, seed=1, flip=True)

    def snapshot(step):
        if step == crash_at:
            raise KeyboardInterrupt  # as if killed right after this step

    final = train(m, stream, _settings(steps, channels_last=channels_last), tmp_path / f"{name}.pt",
                  {"params": {}}, snapshot, start)
    return m, final


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path):
    straight, final = _run(tmp_path, 6, "straight")
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, 6, "crashed", crash_at=5)  # last checkpoint: step 4
    state = load_checkpoint(tmp_path / "crashed.pt")
    assert state["step"] == 4
    resumed, final2 = _run(tmp_path, 6, "crashed", start=state)
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert [r["step"] for r in final2["losses"]] == list(range(1, 7))
    def without_time(rows):
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]

    assert without_time(final2["losses"]) == without_time(final["losses"])


def test_channels_last_trains_the_same_model_in_nhwc(tmp_path):
    # Dropout off: its mask is drawn in memory order, so NHWC would drop other elements.
    nchw, final = _run(tmp_path, 2, "nchw", dropout=False)
    nhwc, final_cl = _run(tmp_path, 2, "nhwc", channels_last=True, dropout=False)
    convs = [p for p in nhwc.parameters() if p.ndim == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert not all(p.is_contiguous(memory_format=torch.channels_last) for p in nchw.parameters() if p.ndim == 4)
    for a, b in zip(final["losses"], final_cl["losses"]):  # the same math, other summation orders
        assert all(b[k] == pytest.approx(v, rel=1e-4) for k, v in a.items() if k not in ("step", "wall_time"))
    state = load_checkpoint(tmp_path / "nhwc.pt")  # and its checkpoint loads into a plain model
    plain = _model(dropout=False)
    plain.load_state_dict(state["model"])
    assert torch.equal(plain.state_dict()["G.down.0.0.weight"], nhwc.state_dict()["G.down.0.0.weight"])


def test_non_finite_loss_stops_with_step_and_term(tmp_path):
    m = _model(lambda_rec=float("inf"))
    stream = BatchStream(_data(), batch_size=4, seed=1)
    with pytest.raises(NonFiniteLoss, match=r"loss G_total became inf at step 0"):
        train(m, stream, _settings(3), tmp_path / "c.pt", {"params": {}}, lambda s: None)


def test_checkpoint_refuses_a_pickle_payload(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"x": Evil()}, f)
    with pytest.raises(GanflowError, match="refused to load"):
        load_checkpoint(path)


def test_checkpoint_round_trip_and_params_diff(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"step": 3, "w": torch.ones(2), "params": {"lr": 1e-3}})
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 3
    assert not list(tmp_path.glob("*.tmp"))
    assert params_diff({"train": {"lr": 1, "n": 2}}, {"train": {"lr": 3, "n": 2}}) == ["train.lr: 1 -> 3"]


def test_the_same_state_saved_twice_gives_the_same_bytes(tmp_path):
    # Reviewers compare checkpoint sha256s (ganflow reproduce): the bytes must not depend on the
    # temporary file name the atomic write used.
    state = {"step": 3, "model": {"w": torch.arange(6.0).reshape(2, 3)}}
    save_checkpoint(tmp_path / "a" / "checkpoint.pt", state)
    save_checkpoint(tmp_path / "b" / "checkpoint.pt", state)
    assert (tmp_path / "a" / "checkpoint.pt").read_bytes() == (tmp_path / "b" / "checkpoint.pt").read_bytes()
    assert torch.equal(load_checkpoint(tmp_path / "a" / "checkpoint.pt")["model"]["w"], state["model"]["w"])
