"""The paired task (pix2pix on aligned A/B data): jitter, the paper's options, and pair -> train ->
sample -> evaluate -> plot -> translate on a tiny A/B folder.

A small deterministic network stands in for the Inception (as in test_metrics_common.py), so the
whole evaluation, FID and KID included, runs for real on cheap features.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganflow.cli import run as ganflow_run
from ganflow.data.tensors import BatchStream
from ganflow.errors import DataError, ParamsError
from ganflow.metrics.pixels import psnr, rmse
from ganflow.models.base import DataInfo
from ganflow.models.pix2pix import Pix2Pix, Pix2PixConfig
from ganflow.nn.patchgan import PatchDiscriminator, receptive_field
from ganflow.stages.tasks import common

from test_metrics_common import StubExtractor
from test_sources import server, side_by_side, tar_gz  # noqa: F401  (server: the loopback fixture)

SIZE = 16


# -------------------------------------------------------------------- jitter and mirroring


def _ramp_pairs(n: int = 6) -> dict[str, torch.Tensor]:
    x = torch.linspace(-1, 1, SIZE)
    a = torch.stack([(x[None, :] * x[:, None] * (k + 1) / n).expand(3, SIZE, SIZE) for k in range(n)])
    return {"A": a, "B": -a}  # B is a pixelwise function of A: any misaligned crop breaks B == -A


def test_jitter_crops_input_and_target_at_the_same_place_and_moves_between_batches():
    stream = BatchStream(_ramp_pairs(), batch_size=4, seed=3, flip=True, load_size=20)
    crops = []
    for _ in range(6):
        batch = next(stream)
        assert batch["A"].shape == (4, 3, SIZE, SIZE)
        assert torch.equal(batch["B"], -batch["A"])
        crops.append(batch["A"])
    assert len({c.sum().item() for c in crops}) > 1


def test_jitter_batches_are_a_function_of_the_seed_and_survive_a_resume():
    a = BatchStream(_ramp_pairs(), 4, seed=1, load_size=20)
    b = BatchStream(_ramp_pairs(), 4, seed=1, load_size=20)
    for _ in range(3):
        next(a), next(b)
    state = a.state_dict()
    resumed = BatchStream(_ramp_pairs(), 4, seed=99, load_size=20)
    resumed.load_state_dict(state)
    for _ in range(4):
        x, y, z = next(a)["A"], next(b)["A"], next(resumed)["A"]
        assert torch.equal(x, y) and torch.equal(x, z)


def test_load_size_below_the_image_size_is_refused():
    with pytest.raises(ValueError, match="load_size 8 is below the image size 16"):
        BatchStream(_ramp_pairs(), 4, seed=0, load_size=8)


# -------------------------------------------------------------------- the paper's options


def _measured_receptive_field(n_layers: int, size: int = 320) -> int:
    """The width of the input region that one central score depends on (by its gradient)."""
    torch.manual_seed(0)
    d = PatchDiscriminator(1, 4, n_layers, norm="none")
    for m in d.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 0.1)
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).flatten()
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("n_layers, side", [(1, 16), (3, 70)])
def test_patchgan_receptive_fields_are_the_papers(n_layers, side):
    assert receptive_field(n_layers) == side == _measured_receptive_field(n_layers)


def test_the_286_patchgan_and_the_pixelgan():
    assert receptive_field(5) == 286 and receptive_field(0) == 1
    model = Pix2Pix(Pix2PixConfig(ngf=4, ndf=4, n_layers_d=0), DataInfo(3, SIZE), 2e-4, (0.5, 0.999))
    x = torch.rand(2, 6, SIZE, SIZE)
    shifted = x.clone()
    shifted[:, :, 0, 0] += 1.0  # a 1 x 1 discriminator: one pixel changes one score only
    model.D.eval()
    changed = (model.D(x) - model.D(shifted)).abs()[0, 0] > 0
    assert model.D(x).shape == (2, 1, SIZE, SIZE) and changed.sum() == 1 and changed[0, 0]


@pytest.mark.parametrize("generator", ["unet", "resnet_6blocks", "resnet_9blocks"])
def test_generators_keep_the_image_shape(generator):
    model = Pix2Pix(Pix2PixConfig(generator=generator, ngf=4, ndf=4, norm="instance"), DataInfo(3, SIZE), 2e-4,
                    (0.5, 0.999))
    assert model.G(torch.rand(2, 3, SIZE, SIZE)).shape == (2, 3, SIZE, SIZE)


def test_linear_policy_keeps_the_rate_for_half_the_steps_then_decays():
    model = Pix2Pix(Pix2PixConfig(ngf=4, ndf=4, lr_policy="linear"), DataInfo(3, SIZE), 2e-4, (0.5, 0.999))
    sched = model.schedulers(10)["G"]
    rates = []
    for _ in range(10):
        rates.append(model.opt_G.param_groups[0]["lr"])
        model.opt_G.step()
        sched.step()
    assert rates[:5] == [2e-4] * 5 and all(a > b > 0 for a, b in zip(rates[5:], rates[6:]))
    assert Pix2Pix(Pix2PixConfig(ngf=4, ndf=4), DataInfo(3, SIZE), 2e-4, (0.5, 0.999)).schedulers(10) == {}


# -------------------------------------------------------------------- the task, end to end


def write_ab_folder(root, n_train: int = 10, n_test: int = 4, size: int = 20) -> None:
    """A/ and B/ with train/ and test/ folders; B is A's colours inverted, so it can be learnt."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for k in range(n):
            a = (rng.random((size, size, 3)) * 255).astype(np.uint8)
            for folder, img in (("A", a), ("B", 255 - a)):
                (root / folder / split).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / folder / split / f"p{k}.png")


def paired_params(folder) -> dict:
    return {
        "datasets": {"mine": {"source": "paired_folders", "image_size": SIZE,
                              "options": {"path": str(folder)}}},
        "experiments": {"p2p": {"model": "pix2pix", "dataset": "mine", "task": "paired"}},
        "train": {"p2p": {"steps": 3, "batch_size": 4, "log_every": 1, "snapshot_every": 3, "checkpoint_every": 3,
                          "device": "cpu", "load_size": 18,
                          "net": {"ngf": 4, "ndf": 4, "n_layers_d": 1, "lr_policy": "linear"}}},
        "sample": {"device": "cpu"},
        "evaluate": {"device": "cpu", "batch_size": 8},
    }


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A tiny A/B folder, its params.yaml, and the Inception stand-in, in tmp_path."""
    monkeypatch.chdir(tmp_path)
    write_ab_folder(tmp_path / "mine")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(paired_params(tmp_path / "mine")))
    _stub_inception(tmp_path, monkeypatch)
    yield tmp_path
    common._extractor_hash.cache_clear()


def _stub_inception(tmp_path, monkeypatch) -> None:
    (tmp_path / "data" / "weights").mkdir(parents=True)
    (tmp_path / "data" / "weights" / "fid_inception.json").write_text(json.dumps(
        {"sha256": "f" * 64, "source_sha256": "s" * 64, "source_kind": "test stand-in"}))
    net = StubExtractor()
    monkeypatch.setattr(common, "_extractor", lambda: net)
    common._extractor_hash.cache_clear()


def cli(*args: str) -> None:
    ganflow_run([*args, "--params", "params.yaml"])


def _tables_output(root) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli("tables", "--results", str(root / "results"))
    return buf.getvalue()


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float32) / 255


def test_paired_task_end_to_end_on_an_ab_folder(project):
    for stage in ("fetch", "pair"):
        cli(stage, "--dataset", "mine")
    for stage in ("train", "sample", "evaluate", "plot"):
        cli(stage, "--exp", "p2p")
    out = np.load(project / "results/p2p/samples/outputs.npz")
    ids = [str(i) for i in out["ids"]]
    assert ids == [f"test_p{k}" for k in range(4)] and out["fake"].shape == (4, SIZE, SIZE, 3)
    assert sorted(p.stem for p in (project / "results/p2p/samples").glob("*.png")) == ids

    truth = np.stack([_png(project / f"data/pairs/mine/test/B/{i}.png") for i in ids])
    given = np.stack([_png(project / f"data/pairs/mine/test/A/{i}.png") for i in ids])
    train_b = np.stack([_png(p) for p in sorted((project / "data/pairs/mine/train/B").glob("*.png"))])
    rm = json.loads((project / "results/p2p/rmse.json").read_text())
    # independent computations of the number and of its two no-learning baselines
    assert rm["value"] == pytest.approx(rmse(out["fake"], truth), abs=1e-9)
    assert rm["input_as_is"] == pytest.approx(np.sqrt(np.mean((given - truth) ** 2)), abs=1e-6)
    assert rm["mean_target"] == pytest.approx(np.sqrt(np.mean((train_b.mean(0) - truth) ** 2)), abs=1e-6)
    assert rm["psnr_db"] == pytest.approx(psnr(out["fake"], truth))
    assert rm["interval"]["low"] <= rm["value"] <= rm["interval"]["high"]
    # every headline number carries its interval, seeded by params.seed and stated at its n
    for key, value in (("psnr_interval", rm["psnr_db"]), ("ssim_interval", rm["ssim"])):
        assert rm[key]["low"] <= value <= rm[key]["high"], key
        assert (rm[key]["seed"], rm[key]["n"], rm[key]["level"]) == (rm["interval"]["seed"], 4, 0.95), key
    assert set(rm["baselines"]) == {"input_as_is", "mean_target"} and rm["n_test_pairs"] == 4

    fid = json.loads((project / "results/p2p/fid.json").read_text())
    assert fid["n_real"] == fid["n_fake"] == 4 and fid["value"] >= 0
    assert fid["input_as_is"] > 0 and fid["mean_target"] > 0
    kid = json.loads((project / "results/p2p/kid.json").read_text())
    for rec in (fid, kid):
        iv = rec["interval"]
        assert iv["low"] <= iv["high"] and iv["n"] == rec["n_fake"] == 4 and iv["resamples"] >= 100
    assert kid["subset_size"] == 2  # capped at half the 4 outputs

    # ganflow tables prints these files' numbers, each with its interval, beside the two baselines
    from ganflow.stages.tables import with_interval

    printed = _tables_output(project)
    row = next(line for line in printed.splitlines() if line.startswith("| p2p, 3 steps (n = 4) |"))
    assert row.split(" | ")[1:6] == [
        with_interval(rm["value"], rm["interval"]), with_interval(rm["psnr_db"], rm["psnr_interval"]),
        with_interval(rm["ssim"], rm["ssim_interval"], 3), with_interval(fid["value"], fid["interval"]),
        with_interval(kid["value"], kid["interval"], 3)]
    assert "| the input as is (no learning) | " + with_interval(rm["input_as_is"], rm["baselines"]["input_as_is"][
        "interval"]) in printed
    for name in ("kid", "precision_recall", "memorisation"):
        assert json.loads((project / f"results/p2p/{name}.json").read_text())["experiment"] == "p2p"
    assert (project / "results/p2p/memorisation.png").stat().st_size > 0
    assert Image.open(project / "results/p2p/plots/test_samples.png").size[0] > 9 * SIZE

    # the Kaggle-style export: one column per test input (sorted ids), one row per pixel value
    cli("export", "--exp", "p2p")
    import pandas as pd

    csv = pd.read_csv(project / "results/p2p/submission.csv")
    assert list(csv.columns[1:]) == ids and len(csv) == SIZE * SIZE * 3
    assert csv[ids[2]].to_numpy() == pytest.approx(out["fake"][2].reshape(-1), abs=1e-4)

    # ganflow translate on the user's own image, of another size
    (project / "mine_photo.png").parent.mkdir(exist_ok=True)
    Image.fromarray((np.random.default_rng(1).random((30, 44, 3)) * 255).astype(np.uint8)).save(project / "mine_photo.png")
    cli("translate", "--exp", "p2p", "mine_photo.png", "translated.png")
    assert Image.open(project / "translated.png").size == (44, 30)
    cli("translate", "--exp", "p2p", "mine_photo.png", "tiled.png", "--fit", "tile")
    assert Image.open(project / "tiled.png").size == (44, 30)


def test_facades_from_the_loopback_server_through_pair_train_sample_evaluate(server, tmp_path, monkeypatch):
    """The pix2pix authors' archive layout (facades/{train,val,test}/N.jpg, A|B side by side),
    served on 127.0.0.1, through to metric files; BtoA as the authors train facades."""
    members = {f"facades/{split}/{k}.jpg": side_by_side(30 + 20 * k, 200 - 10 * k, h=SIZE)
               for split, n in (("train", 6), ("val", 2), ("test", 5)) for k in range(1, n + 1)}
    server.files["/pix2pix/facades.tar.gz"] = tar_gz(members)
    monkeypatch.chdir(tmp_path)
    _stub_inception(tmp_path, monkeypatch)
    raw = paired_params(tmp_path)
    raw["datasets"] = {"facades": {"source": "pix2pix", "image_size": SIZE, "options": {
        "set": "facades", "mirrors": [server.url("/pix2pix/")], "retries": 0}}}
    raw["experiments"]["p2p"]["dataset"] = "facades"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    cli("fetch", "--dataset", "facades")
    cli("pair", "--dataset", "facades")
    for stage in ("train", "sample", "evaluate"):
        cli(stage, "--exp", "p2p")
    rm = json.loads((tmp_path / "results/p2p/rmse.json").read_text())
    assert rm["direction"] == "BtoA" and rm["n_test_pairs"] == 5
    # BtoA: the input is the right half (bright), the target the left (dark), as the authors train it
    out = np.load(tmp_path / "results/p2p/samples/outputs.npz")
    truth = np.stack([_png(tmp_path / f"data/pairs/facades/test/B/{i}.png") for i in out["ids"]])
    assert truth.mean() < 0.4 and rm["value"] == pytest.approx(rmse(out["fake"], truth), abs=1e-9)
    assert json.loads((tmp_path / "results/p2p/fid.json").read_text())["n_fake"] == 5
    common._extractor_hash.cache_clear()


def test_a_paired_experiment_on_an_unpaired_set_names_the_layout(project, base_params):
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["datasets"]["edges"] = {"source": "skimage_photo_edges", "image_size": 16,
                                "options": {"photos": ["coffee"], "short_side": 96, "cell": 32, "crops_per_cell": 1}}
    raw["experiments"]["p2p"]["dataset"] = "edges"
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    cli("fetch", "--dataset", "edges")
    cli("pair", "--dataset", "edges")
    with pytest.raises(DataError, match="layout 'unpaired'; the paired task needs 'paired'"):
        cli("train", "--exp", "p2p")


def test_load_size_below_image_size_is_a_params_error(project):
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["train"]["p2p"]["load_size"] = 12
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    cli("fetch", "--dataset", "mine")
    cli("pair", "--dataset", "mine")
    with pytest.raises(ParamsError, match=r"train\.p2p\.load_size: load_size 12 is below the image size 16"):
        cli("train", "--exp", "p2p")


def test_the_offline_sketch_set_pairs_each_crop_with_its_own_sketch(project):
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["datasets"]["sk"] = {"source": "skimage_sketch_photos", "image_size": 16, "test_fraction": 0.25,
                             "options": {"photos": ["coffee", "chelsea"], "short_side": 96, "cell": 32,
                                         "crops_per_cell": 1}}
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    cli("fetch", "--dataset", "sk")
    cli("pair", "--dataset", "sk")
    meta = json.loads((project / "data/pairs/sk/dataset.json").read_text())
    assert (meta["layout"], meta["direction"]) == ("paired", "AtoB") and meta["n_train"] and meta["n_test"]
    import pandas as pd

    m = pd.read_csv(project / "data/pairs/sk/manifest.csv")
    sketch, photo = _png(project / "data/pairs/sk" / m.a[0]), _png(project / "data/pairs/sk" / m.b[0])
    # the input is a grey sketch (three equal channels), the target the colour crop of the same place
    assert np.allclose(sketch[..., 0], sketch[..., 2]) and not np.allclose(photo[..., 0], photo[..., 2])
    # no crop of a test cell is in training (cells, not crops, are split)
    cell = lambda i: i.rsplit("_k", 1)[0]
    assert not {cell(i) for i in m[m.split == "train"].id} & {cell(i) for i in m[m.split == "test"].id}


# -------------------------------------------------------------------- both orchestrators


@pytest.mark.slow
def test_paired_task_through_snakemake_and_dvc(tmp_path):
    """A user's A/B folder as one params entry: Snakemake builds the chain, DVC agrees it is current,
    and after a training change `dvc repro` reruns train -> evaluate and nothing upstream."""
    import re

    from conftest import tiny_params
    from test_pipeline_e2e import make_workspace, sh

    work = make_workspace(tmp_path / "work")
    write_ab_folder(work / "mine")
    raw = yaml.safe_load((work / "params.yaml").read_text())
    ours = paired_params("mine")  # relative: the workspace is the cwd of every stage
    raw["datasets"].update(ours["datasets"])
    raw["experiments"].update(ours["experiments"])
    raw["train"].update(ours["train"])
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(raw), sort_keys=False))
    sh("ganflow graph", work)
    target = "results/p2p/metrics.json results/p2p/plots"
    planned = set(re.findall(r"^rule (\w+):", sh(f"snakemake -n --cores 2 {target}", work), flags=re.M))
    assert planned == {"fetch_mine", "pair_mine", "weights", "train_p2p", "sample_p2p", "evaluate_p2p", "plot_p2p"}
    sh(f"snakemake --cores 2 {target}", work)
    rm = json.loads((work / "results/p2p/rmse.json").read_text())
    assert rm["metric"] == "rmse" and rm["n_test_pairs"] == 4 and "mean_target" in rm["baselines"]
    fid = json.loads((work / "results/p2p/fid.json").read_text())
    assert fid["n_fake"] == 4 and len(fid["weights_sha256"]) == 64
    assert set(json.loads((work / "results/p2p/metrics.json").read_text())) >= {"fid", "kid", "rmse"}
    assert "Data and pipelines are up to date" in sh("dvc status --with-deps evaluate_p2p", work)

    raw = yaml.safe_load((work / "params.yaml").read_text())
    raw["train"]["p2p"]["steps"] += 1  # a key params.yaml spells out: the graph itself is unchanged
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    ran = set(re.findall(r"Running stage '(\w+)'", sh("dvc repro evaluate_p2p plot_p2p", work)))
    assert ran == {"train_p2p", "sample_p2p", "evaluate_p2p", "plot_p2p"}
    assert json.loads((work / "results/p2p/rmse.json").read_text())["value"] != rm["value"]


def test_the_readme_facades_recipe_is_the_papers_setting_and_plans_its_chain():
    """The README's params block for facades: valid, the paper's settings, and a full chain in the graph."""
    import re
    from pathlib import Path

    from ganflow.models.pix2pix import Pix2PixConfig
    from ganflow.params import parse_params
    from ganflow.stages import graph

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    block = re.search(r"\*\*pix2pix on facades as the paper trains it\*\*.*?```yaml\n(.*?)```", readme, re.S)[1]
    recipe = yaml.safe_load(block)
    raw = yaml.safe_load((root / "params.yaml").read_text())
    for section in ("experiments", "train"):
        raw[section].update(recipe[section])
    params = parse_params(raw)
    t = params.train["pix2pix_facades"]
    net = Pix2PixConfig(**t.net)
    assert params.datasets["facades"].options["direction"] == "BtoA" and params.datasets["facades"].image_size == 256
    assert (t.batch_size, t.steps, t.load_size, t.augment_flip) == (1, 200 * 400, 286, True)
    assert (net.generator, net.n_layers_d, net.gan_loss, net.lambda_rec, net.lr_policy) == \
        ("unet", 3, "vanilla", 100.0, "linear")
    stages = graph.derive(params)
    assert {"fetch_facades", "pair_facades", "train_pix2pix_facades", "sample_pix2pix_facades",
            "evaluate_pix2pix_facades", "plot_pix2pix_facades"} <= set(stages)
    assert "mask_facades" not in stages  # a paired task needs no mouth masks
