"""The disk-backed training path: a plan drawn in the main process, examples from memory or from
PNG files through a DataLoader, and the same bits whatever the store, the worker count, a resume
or the rank (data/plan.py, data/stores.py, data/tensors.py BatchStream, stages/train_data.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from ganflow.data.images import load_image
from ganflow.data.stores import DiskStore, ImageColumn, TensorColumn
from ganflow.data.tensors import BatchStream, to_tensor
from ganflow.errors import DataError, ParamsError
from ganflow.params import parse_params
from ganflow.train.distributed import Distributed

from test_paired_task import cli, paired_params, project  # noqa: F401  (project: fixture)

SIZE = 16


class LegacyBatchStream:
    """BatchStream as it was before the plan / store split, verbatim in its drawing: the
    reference the new stream must match bit for bit."""

    def __init__(self, tensors, batch_size, seed, flip=False, load_size=None):
        self.flip, self.crop = flip, None
        if load_size is not None:
            self.crop = next(v for v in tensors.values() if v.ndim == 4).shape[-1]
            tensors = {k: F.interpolate(v, size=(load_size, load_size), mode="bicubic", align_corners=False)
                       .clamp_(-1, 1) if v.ndim == 4 and v.shape[-1] != load_size else v for k, v in tensors.items()}
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))
        self.batch_size = min(batch_size, self.n)
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(self.n, generator=self.gen)
        self.pos = 0

    def __next__(self):
        if self.pos + self.batch_size > self.n:
            self.order, self.pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        batch = {k: v[idx] for k, v in self.tensors.items()}
        if self.flip:
            mirror = torch.rand(len(idx), generator=self.gen) < 0.5
            for v in batch.values():
                if v.ndim == 4:
                    v[mirror] = v[mirror].flip(-1)
        if self.crop is not None:
            room = next(v for v in batch.values() if v.ndim == 4).shape[-1] - self.crop + 1
            top, left = torch.randint(0, room, (2, len(idx)), generator=self.gen)
            c = self.crop
            batch = {k: torch.stack([v[i, :, t:t + c, l:l + c] for i, (t, l) in enumerate(zip(top.tolist(), left.tolist()))])
                     if v.ndim == 4 else v for k, v in batch.items()}
        return batch


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """10 RGB and 10 grey PNGs with random pixels (every value of a byte occurs), and labels."""
    root = tmp_path_factory.mktemp("pngs")
    rng = np.random.default_rng(0)
    files = {"rgb": [], "grey": []}
    for k in range(10):
        for kind, shape in (("rgb", (SIZE, SIZE, 3)), ("grey", (SIZE, SIZE))):
            path = root / f"{kind}_{k}.png"
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
            files[kind].append(path)
    labels = torch.from_numpy(rng.integers(0, 3, 10))
    return files, labels


def _memory(folder) -> dict[str, torch.Tensor]:
    files, labels = folder
    return {"x": to_tensor([load_image(p) for p in files["rgb"]]),
            "g": to_tensor([load_image(p) for p in files["grey"]]), "y": labels}


def _disk(folder, load_size=None) -> DiskStore:
    files, labels = folder
    return DiskStore({"x": ImageColumn(files["rgb"]), "g": ImageColumn(files["grey"]), "y": TensorColumn(labels)},
                     load_size)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("flip,load_size", [(False, None), (True, None), (True, 20)])
def test_memory_disk_and_workers_give_todays_batches_bit_for_bit(folder, flip, load_size):
    kw = dict(batch_size=4, seed=5, flip=flip, load_size=load_size)
    legacy = LegacyBatchStream(_memory(folder), **kw)
    memory = BatchStream(_memory(folder), **kw)
    disk0 = BatchStream(_disk(folder, load_size), workers=0, **kw)
    disk2 = BatchStream(_disk(folder, load_size), workers=2, **kw)
    try:
        for _ in range(7):  # 10 rows, 4 a batch: three epochs, each a new permutation
            want = next(legacy)
            got = [next(memory), next(disk0), next(disk2)]
            assert all(_same(want, g) for g in got)
            assert want["x"].shape == (4, 3, SIZE, SIZE) and want["g"].shape == (4, 1, SIZE, SIZE)
    finally:
        disk2.close()


def test_a_disk_row_decodes_to_the_in_memory_values(folder):
    store = _disk(folder)
    mem = _memory(folder)
    rows = store.rows([3, 0, 9])
    assert _same(rows, {k: v[[3, 0, 9]] for k, v in mem.items()})
    # The values are the bytes / 255 mapped to [-1, 1]: an independent decode of one file.
    raw = np.asarray(Image.open(folder[0]["rgb"][3]), dtype=np.float64).transpose(2, 0, 1)
    assert np.allclose(rows["x"][0].double().numpy(), raw / 255 * 2 - 1, atol=1e-6)
    assert rows["x"].min() >= -1 and rows["x"].max() <= 1


def test_a_resume_with_batches_in_flight_continues_exactly(folder):
    kw = dict(batch_size=4, seed=2, flip=True, load_size=20)
    straight = BatchStream(_memory(folder), **kw)
    first = BatchStream(_disk(folder, 20), workers=2, prefetch=2, **kw)
    try:
        for _ in range(3):
            assert _same(next(straight), next(first))
        # The sampler runs ahead of the step: the plan has drawn batches no one has consumed yet.
        assert len(first._in_flight) > 0
        assert not torch.equal(first.plan.state().gen, first.state_dict()["gen"])
        state = first.state_dict()
    finally:
        first.close()
    resumed = BatchStream(_disk(folder, 20), workers=2, **{**kw, "seed": 99})  # the seed comes from the state
    resumed.load_state_dict(state)
    try:
        for _ in range(5):
            assert _same(next(straight), next(resumed))
    finally:
        resumed.close()
    # The state a memory stream saves is the same object a disk stream saves (same checkpoints).
    mem = BatchStream(_memory(folder), **kw)
    for _ in range(3):
        next(mem)
    m = mem.state_dict()
    assert m["pos"] == state["pos"] and torch.equal(m["gen"], state["gen"]) and torch.equal(m["order"], state["order"])


def test_close_rewinds_to_the_last_consumed_batch(folder):
    kw = dict(batch_size=3, seed=4, flip=True)
    ref = BatchStream(_memory(folder), **kw)
    disk = BatchStream(_disk(folder), workers=2, **kw)
    try:
        for _ in range(2):
            assert _same(next(ref), next(disk))
        disk.close()  # two or more batches were fetched ahead and are dropped
        for _ in range(4):
            assert _same(next(ref), next(disk))
    finally:
        disk.close()


@pytest.mark.parametrize("world", [2, 4])
def test_each_rank_reads_only_its_share_of_the_global_batch(folder, world, monkeypatch):
    kw = dict(batch_size=8, seed=3, flip=True, load_size=18)
    whole = BatchStream(_memory(folder), **kw)
    ranks = [BatchStream(_disk(folder, 18), share=(r, world), **kw) for r in range(world)]
    read = []
    original = ImageColumn.take

    def counting(self, rows):
        read.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(ImageColumn, "take", counting)
    for _ in range(3):
        want = next(whole)
        for r, stream in enumerate(ranks):
            read.clear()
            got = next(stream)
            assert stream.shares_ranks
            assert _same(got, Distributed(rank=r, world_size=world, local_rank=r).shard(want))
            assert read == [8 // world, 8 // world]  # two image columns, each read for its own rows only


def test_a_batch_that_does_not_split_over_the_ranks_is_refused(folder):
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        BatchStream(_disk(folder), batch_size=4, seed=0, share=(0, 3))


def test_head_reads_the_first_rows_unresized(folder):
    disk = BatchStream(_disk(folder, 20), batch_size=4, seed=0, load_size=20)
    mem = BatchStream(_memory(folder), batch_size=4, seed=0, load_size=20)
    assert _same(disk.store.head(16), mem.store.head(16))
    assert disk.store.head(16)["x"].shape == (10, 3, SIZE, SIZE)


def test_a_broken_file_is_named_with_its_row(tmp_path):
    good, bad = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(good)
    bad.write_bytes(b"not a png")
    store = DiskStore({"x": ImageColumn([good, bad], where=["manifest.csv, id a", "manifest.csv, id b"])})
    with pytest.raises(DataError, match=r"b\.png.*\(manifest\.csv, id b\)"):
        store.rows([1])
    stream = BatchStream(store, batch_size=2, seed=0, workers=1)
    with pytest.raises(DataError, match=r"manifest\.csv, id b"):  # raised in a worker, re-raised here
        next(stream)
    stream.close()


def test_the_disk_store_counts_what_memory_would_hold(folder):
    assert _disk(folder).decoded_bytes() == 10 * (3 + 1) * SIZE * SIZE * 4 + 10 * 8
    assert _disk(folder, 32).decoded_bytes() == 10 * (3 + 1) * SIZE * SIZE * 4 * (1 + 4) + 10 * 8


# -------------------------------------------------------------------- through the train stage


def _train(project, name: str, **train) -> dict:
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["train"]["p2p"].update(train)
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    cli("train", "--exp", "p2p")
    model = project / "results/p2p/model"
    out = {"weights": torch.load(model / "checkpoint.pt", weights_only=True)["model"],
           "record": json.loads((model / "run.json").read_text()),
           "snapshot": (model / "snapshots" / "step_000003.png").read_bytes()}
    import shutil
    shutil.move(str(project / "results/p2p"), str(project / f"results/{name}"))
    return out


def test_data_disk_trains_the_same_weights_as_data_memory(project):
    for stage in ("fetch", "pair"):
        cli(stage, "--dataset", "mine")
    mem = _train(project, "memory", data="memory")                 # flip and load_size 18 jitter on
    disk = _train(project, "disk", data="disk", workers=2)
    disk0 = _train(project, "disk0", data="disk", workers=0)
    for other in (disk, disk0):
        assert mem["weights"].keys() == other["weights"].keys()
        assert all(torch.equal(v, other["weights"][k]) for k, v in mem["weights"].items())
        assert other["snapshot"] == mem["snapshot"]  # the fixed inputs came from the files too
    assert mem["record"]["data_store"]["store"] == "memory" and mem["record"]["data_store"]["workers"] == 0
    chosen = disk["record"]["data_store"]
    assert (chosen["asked"], chosen["store"], chosen["workers"], chosen["rows"]) == ("disk", "disk", 2, 10)
    auto = _train(project, "auto", data="auto")  # 10 images of 16 px: far below the threshold
    assert auto["record"]["data_store"]["store"] == "memory"
    assert auto["record"]["data_store"]["decoded_bytes"] < auto["record"]["data_store"]["auto_memory_bytes"]


def test_auto_chooses_disk_above_the_threshold(project, monkeypatch):
    from ganflow.stages import train_data

    for stage in ("fetch", "pair"):
        cli(stage, "--dataset", "mine")
    monkeypatch.setattr(train_data, "AUTO_MEMORY_BYTES", 1000)
    params = parse_params(yaml.safe_load((project / "params.yaml").read_text()))
    _, examples, _, record = train_data.training_data(params, "p2p")
    assert isinstance(examples, DiskStore) and record["store"] == "disk" and record["decoded_bytes"] >= 1000


def test_resume_may_switch_store(project, monkeypatch):
    """A run checkpointed from memory resumes from disk (and the weights end as one run's)."""
    for stage in ("fetch", "pair"):
        cli(stage, "--dataset", "mine")
    straight = _train(project, "straight", data="memory", steps=4, checkpoint_every=2)
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["train"]["p2p"].update(data="memory", steps=4, checkpoint_every=2)
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    from ganflow.stages import train as train_stage
    from ganflow.train import loop

    def crash_after_checkpoint(model, batches, s, ckpt, meta, snapshot, start=None, ddp=None):
        def snap(step):
            if step == 3:  # as if killed here: the last checkpoint is step 2's
                raise KeyboardInterrupt
            snapshot(step)
        return loop.train(model, batches, s, ckpt, meta, snap, start, ddp)

    with monkeypatch.context() as m:
        m.setattr(train_stage, "train", crash_after_checkpoint)
        with pytest.raises(KeyboardInterrupt):
            cli("train", "--exp", "p2p")
    assert (project / "results/p2p/resume/checkpoint.pt").exists()
    resumed = _train(project, "resumed", data="disk", workers=2, steps=4, checkpoint_every=2)
    assert all(torch.equal(v, resumed["weights"][k]) for k, v in straight["weights"].items())


def _check(raw: dict, match: str) -> None:
    with pytest.raises(ParamsError, match=match):
        parse_params(raw)


def test_bad_data_params_are_named(tmp_path):
    raw = paired_params(tmp_path)
    _check({**raw, "train": {"p2p": {**raw["train"]["p2p"], "data": "tape"}}}, r"train\.p2p\.data")
    _check({**raw, "train": {"p2p": {**raw["train"]["p2p"], "workers": -1}}}, r"train\.p2p\.workers")


def test_a_task_without_a_disk_store_refuses_data_disk(tmp_path):
    from ganflow.stages import train_data

    raw = {"datasets": {"pe": {"source": "skimage_photo_edges", "image_size": 16}},
           "experiments": {"cg": {"model": "cyclegan", "dataset": "pe"}},
           "train": {"cg": {"data": "disk"}}}
    with pytest.raises(ParamsError, match=r"train\.cg\.data: 'disk' is not available for the unpaired task"):
        train_data.training_data(parse_params(raw), "cg")


# -------------------------------------------------------------------- each task's columns


def _columns_match_tensors(task, params, exp) -> None:
    """A task's training_columns read through a DiskStore give its training_tensors, row for row."""
    d1, tensors, info1 = task.training_tensors(params, exp)
    d2, columns, info2 = task.training_columns(params, exp)
    assert (d1, info1) == (d2, info2)
    store = DiskStore(columns)
    rows = store.rows(list(range(store.n)))
    assert _same(rows, tensors)


def test_unconditional_labelled_and_inpaint_columns_are_their_tensors(tmp_path, monkeypatch):
    from ganflow.stages import fetch, mask, pair
    from ganflow.stages.tasks import inpaint, labelled, unconditional

    monkeypatch.chdir(tmp_path)
    raw = {"datasets": {"digits": {"source": "sklearn_digits", "image_size": 32, "options": {"max_images": 40}},
                        "faces": {"source": "skimage_lfw_faces", "image_size": 32}},
           "mask": {"faces": {"method": "fixed", "fixed_box": [0.6, 0.3, 0.85, 0.7]}},
           "experiments": {"dcgan": {"model": "dcgan", "dataset": "digits"},
                           "cgan": {"model": "cgan", "dataset": "digits"},
                           "p2p": {"model": "pix2pix", "dataset": "faces"}},
           "train": {"dcgan": {}, "cgan": {}, "p2p": {}}}
    params = parse_params(raw)
    for ds in ("digits", "faces"):
        fetch.run(params, ds)
        pair.run(params, ds)
    mask.run(params, "faces")
    _columns_match_tensors(unconditional, params, "dcgan")
    _columns_match_tensors(labelled, params, "cgan")
    _columns_match_tensors(inpaint, params, "p2p")
