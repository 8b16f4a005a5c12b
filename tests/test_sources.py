"""Downloading sources end to end: fetch + pair against archives these tests build.

Every byte comes from an http.server the fixture starts on 127.0.0.1 (port 0), reached through
each source's ``mirrors`` option; no other address is ever contacted and proxy variables are
cleared.  The archives have each upstream layout (pix2pix tar.gz, CycleGAN zip, CelebA files,
MNIST idx.gz, Oxford flowers tgz + .mat + captions) with tiny images.  Sources whose checksums
ganflow pins (CelebA, MNIST, flowers) get the tiny files' md5s patched in; one test shows the
real pins refuse the tiny files.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError
import yaml
from PIL import Image

from ganflow.cli import run as ganflow_run
from ganflow.data.sources import celeba, flowers, mnist
from ganflow.data.sources.common import RemoteFile

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the server


class Server:
    def __init__(self) -> None:
        self.base = ""
        self.files: dict[str, bytes] = {}      # URL path -> body; anything else is a 404
        self.truncate: dict[str, int] = {}     # path -> how many more answers to cut in half
        self.log: list[tuple[str, int, str]] = []  # (path, status, Range header)

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        rng = self.headers.get("Range", "")
        if path not in state.files:
            state.log.append((path, 404, rng))
            return self._send(404, b"not found")
        body, status, headers = state.files[path], 200, {}
        m = re.fullmatch(r"bytes=(\d+)-", rng)
        if m and int(m[1]) < len(body):
            start = int(m[1])
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            body, status = body[start:], 206
        cut = state.truncate.get(path, 0) > 0
        if cut:
            state.truncate[path] -= 1
        state.log.append((path, status, rng))
        self._send(status, body, headers, send=body[: len(body) // 2] if cut else None)

    def _send(self, status, body, headers=None, send=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if send is None else send)


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")
    state = Server()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = state  # type: ignore[attr-defined]
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


# ------------------------------------------------------------------------------- helpers


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder to run stages in; ``project(datasets)`` writes its params.yaml."""
    monkeypatch.chdir(tmp_path)

    def write(datasets: dict) -> Path:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"datasets": datasets, "experiments": {}, "train": {}}))
        return tmp_path
    return write


def stage(name: str, dataset: str) -> None:
    ganflow_run([name, "--dataset", dataset, "--params", "params.yaml"])


def jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def side_by_side(a: int, b: int, h: int = 16) -> bytes:
    """A pix2pix image: left half grey level a, right half b."""
    img = np.zeros((h, 2 * h, 3), np.uint8)
    img[:, :h], img[:, h:] = a, b
    return jpeg(img)


def manifest(dataset: str) -> pd.DataFrame:
    return pd.read_csv(f"data/pairs/{dataset}/manifest.csv", keep_default_na=False)


def meta(dataset: str) -> dict:
    return json.loads(Path(f"data/pairs/{dataset}/dataset.json").read_text())


def mean_of(path: str) -> float:
    return float(np.asarray(Image.open(Path("data/pairs/facades") / path), dtype=np.float64).mean())


def leftovers() -> list[str]:
    """Everything under data/ except the download cache's bookkeeping."""
    return sorted(str(p) for p in Path("data").rglob("*") if p.is_file())


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


PIX2PIX = {  # 3 train, 1 val, 1 test; A dark (40), B bright (210)
    "facades/train/1.jpg": side_by_side(40, 210), "facades/train/2.jpg": side_by_side(40, 210),
    "facades/train/3.jpg": side_by_side(40, 210), "facades/val/1.jpg": side_by_side(40, 210),
    "facades/test/1.jpg": side_by_side(40, 210),
}


def pix2pix_params(server, **options) -> dict:
    return {"facades": {"source": "pix2pix", "image_size": 8,
                        "options": {"set": "facades", "mirrors": [server.url("/pix2pix/")], "retries": 0, **options}}}


# ------------------------------------------------------------------------ each layout


def test_pix2pix_fetch_and_pair_keeps_splits_and_applies_direction(server, project):
    archive = tar_gz(PIX2PIX)
    server.files["/pix2pix/facades.tar.gz"] = archive
    sha = hashlib.sha256(archive).hexdigest()
    project(pix2pix_params(server, sha256=sha))
    stage("fetch", "facades")
    record = json.loads(Path("data/raw/facades/source.json").read_text())
    assert record["files"][0]["sha256"] == sha and record["files"][0]["urls"] == [server.url("/pix2pix/facades.tar.gz")]

    stage("pair", "facades")
    m = manifest("facades")
    assert list(m.columns) == ["id", "split", "a", "b"]
    assert sorted(m.split) == ["test", "train", "train", "train", "val"]
    d = meta("facades")
    assert (d["layout"], d["n_train"], d["n_val"], d["n_test"], d["image_size"], d["channels"]) == \
        ("paired", 3, 1, 1, 8, 3)
    assert d["direction"] == "BtoA"  # facades' usual direction: the label map (B) is the input
    assert all(mean_of(p) > 180 for p in m.a) and all(mean_of(p) < 70 for p in m.b)
    assert Image.open(Path("data/pairs/facades") / m.a[0]).size == (8, 8)

    project(pix2pix_params(server, sha256=sha, direction="AtoB"))
    stage("pair", "facades")
    m = manifest("facades")
    assert all(mean_of(p) < 70 for p in m.a) and all(mean_of(p) > 180 for p in m.b)


def test_cyclegan_zip_second_mirror_after_404_and_grayscale_made_rgb(server, project):
    gray = np.full((12, 12), 90, np.uint8)
    colour = np.zeros((12, 12, 3), np.uint8)
    colour[..., 0] = 200
    server.files["/good/horse2zebra.zip"] = zip_bytes({
        "horse2zebra/trainA/h1.jpg": jpeg(colour), "horse2zebra/trainA/h2.jpg": jpeg(gray),
        "horse2zebra/trainB/z1.jpg": jpeg(colour), "horse2zebra/testA/h3.jpg": jpeg(colour),
        "horse2zebra/testB/z2.jpg": jpeg(colour), "horse2zebra/testB/z3.jpg": jpeg(colour),
    })
    project({"h2z": {"source": "cyclegan", "image_size": 8, "options": {
        "set": "horse2zebra", "mirrors": [server.url("/missing/"), server.url("/good/")], "retries": 0}}})
    stage("fetch", "h2z")
    assert [(p, s) for p, s, _ in server.log] == [("/missing/horse2zebra.zip", 404), ("/good/horse2zebra.zip", 200)]
    stage("pair", "h2z")
    m = manifest("h2z")
    assert list(m.columns) == ["id", "split", "domain", "image"]
    assert sorted(zip(m.split, m.domain)) == [("test", "A"), ("test", "B"), ("test", "B"), ("train", "A"),
                                              ("train", "A"), ("train", "B")]
    assert {Image.open(Path("data/pairs/h2z") / p).mode for p in m.image} == {"RGB"}
    assert meta("h2z")["n_test"] == 3 and "n_val" not in meta("h2z")


def _celeba_files(partition: dict[str, int]) -> dict[str, bytes]:
    """A tiny CelebA: 20 x 24 faces (w x h), each mouth-corner landmark known."""
    names = sorted(partition)
    attrs = ["%d" % len(names), " ".join(celeba.ATTRIBUTES)]
    marks = ["%d" % len(names), " ".join(celeba.LANDMARK_COLUMNS)]
    members = {}
    for i, name in enumerate(names):
        values = ["1" if (i + j) % 3 == 0 else "-1" for j in range(40)]
        attrs.append(f"{name} " + "  ".join(values))
        marks.append(f"{name} 6 8 14 8 10 12 5 {14 + i} 15 {14 + i}")
        members[f"img_align_celeba/{name}"] = jpeg(np.full((24, 20, 3), 30 * i % 255, np.uint8))
    return {"img_align_celeba.zip": zip_bytes(members),
            "list_attr_celeba.txt": ("\n".join(attrs) + "\n").encode(),
            "list_landmarks_align_celeba.txt": ("\n".join(marks) + "\n").encode(),
            "list_eval_partition.txt": "".join(f"{n} {p}\n" for n, p in partition.items()).encode()}


def _serve_celeba(server, monkeypatch, files: dict[str, bytes], patch_md5: bool = True) -> None:
    for name, data in files.items():
        server.files[f"/celeba/{name}"] = data
    if patch_md5:
        new = {f.name: RemoteFile(f.name, md5=md5(files[f.name]), gdrive=f.gdrive) for f in celeba.FILES}
        monkeypatch.setattr(celeba, "IMAGES", new["img_align_celeba.zip"])
        monkeypatch.setattr(celeba, "FILES", tuple(new[f.name] for f in celeba.FILES))


def test_celeba_attributes_partition_and_landmarks(server, project, monkeypatch):
    partition = {"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 1, "000004.jpg": 2}
    _serve_celeba(server, monkeypatch, _celeba_files(partition))
    project({"celeba": {"source": "celeba", "image_size": 8, "options": {
        "mirrors": [server.url("/celeba/")], "retries": 0, "attributes": ["Arched_Eyebrows", "Male"]}}})
    stage("fetch", "celeba")
    stage("pair", "celeba")
    m = manifest("celeba")
    assert list(m.columns) == ["id", "split", "image", "Arched_Eyebrows", "Male"]
    assert list(m.split) == ["train", "train", "val", "test"]
    # row i, attribute j is 1 where (i + j) % 3 == 0; Arched_Eyebrows is j=1, Male j=20
    assert list(m.Arched_Eyebrows) == [0, 0, 1, 0] and list(m.Male) == [0, 1, 0, 0]
    d = meta("celeba")
    assert d["attributes"] == ["Arched_Eyebrows", "Male"] and d["crop"].startswith("largest centred square")
    # 20 x 24 -> centre square top=2, side 20 -> 8 px: k = 0.4, x' = (x + .5) k - .5, y' = (y - 2 + .5) k - .5
    lm = pd.read_csv("data/pairs/celeba/landmarks.csv")
    assert list(lm.columns) == ["id", "lx", "ly", "rx", "ry"]
    row = lm.set_index("id").loc["id_000002"]
    assert (row.lx, row.ly, row.rx, row.ry) == pytest.approx((1.7, (15 - 2 + .5) * .4 - .5, 5.7, (15 - 2 + .5) * .4 - .5))


def test_celeba_landmarks_feed_the_mask_stage(server, project, monkeypatch):
    _serve_celeba(server, monkeypatch, _celeba_files({"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 2}))
    project({"celeba": {"source": "celeba", "image_size": 8, "options": {"mirrors": [server.url("/celeba/")]}}})
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["mask"] = {"celeba": {"method": "landmarks"}}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    stage("fetch", "celeba")
    stage("pair", "celeba")
    stage("mask", "celeba")
    boxes = pd.read_csv("data/masked/celeba/boxes.csv")
    assert set(boxes.method) == {"landmarks"} and len(boxes) == 3
    white = np.asarray(Image.open("data/masked/celeba/Training/White/id_000001.png"), dtype=np.float64)
    r = boxes.set_index("id").loc["id_000001"]
    assert white[r.top:r.bottom, r.left:r.right].min() >= 254  # the mouth box is painted white


def test_celeba_real_md5_pins_refuse_other_files(server, project, monkeypatch):
    _serve_celeba(server, monkeypatch, _celeba_files({"000001.jpg": 0, "000002.jpg": 2}), patch_md5=False)
    project({"celeba": {"source": "celeba", "options": {"mirrors": [server.url("/celeba/")], "retries": 0}}})
    with pytest.raises(GanflowError, match="checksum mismatch: md5 expected 00d2c5bc6d35e252742224ab0c1e8fcb .*pinned by ganflow"):
        stage("fetch", "celeba")
    assert not Path("data/raw/celeba").exists()
    assert not Path("data/downloads/celeba/img_align_celeba.zip").exists()


def _idx(data: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, data.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in data.shape)
    return gzip.compress(header + data.astype(np.uint8).tobytes())


def test_mnist_idx_files_from_second_mirror(server, project, monkeypatch):
    labels = {"train": np.array([3, 1, 4, 1, 5]), "t10k": np.array([9, 2])}
    files = {}
    for prefix, lab in labels.items():
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx(np.stack([np.full((28, 28), 25 * v) for v in lab]))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx(lab)
    for name, data in files.items():
        server.files[f"/b/{name}"] = data
    monkeypatch.setattr(mnist, "FILES", tuple(RemoteFile(f.name, md5=md5(files[f.name])) for f in mnist.FILES))
    project({"mnist": {"source": "mnist", "image_size": 8, "options": {
        "mirrors": [server.url("/a"), server.url("/b")], "retries": 0}}})
    stage("fetch", "mnist")
    assert [s for _, s, _ in server.log] == [404, 200] * 4
    stage("pair", "mnist")
    m = manifest("mnist")
    assert list(m.columns) == ["id", "split", "image", "label", "label_name"]
    assert list(m.label) == [3, 1, 4, 1, 5, 9, 2] and list(m.split) == ["train"] * 5 + ["test"] * 2
    assert list(m.label_name) == [mnist.CLASSES[v] for v in m.label]
    pixels = [np.asarray(Image.open(Path("data/pairs/mnist") / p)) for p in m.image]
    assert [int(p.mean().round()) for p in pixels] == [25 * v for v in m.label]  # constant digits survive
    assert meta("mnist")["classes"] == list(mnist.CLASSES) and meta("mnist")["channels"] == 1


def test_mirror_may_be_a_local_folder(project, monkeypatch, tmp_path):
    """A lab's own copy (or files fetched by hand): mirrors may name a folder; md5s still apply."""
    folder = tmp_path / "my_mnist"
    folder.mkdir()
    files = {}
    for prefix, n in (("train", 3), ("t10k", 2)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx(np.zeros((n, 28, 28)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx(np.arange(n))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    monkeypatch.setattr(mnist, "FILES", tuple(RemoteFile(f.name, md5=md5(files[f.name])) for f in mnist.FILES))
    project({"mnist": {"source": "mnist", "image_size": 8, "options": {"mirrors": [str(folder)]}}})
    stage("fetch", "mnist")
    stage("pair", "mnist")
    assert (meta("mnist")["n_train"], meta("mnist")["n_test"]) == (3, 2)


def test_user_archive_behind_a_url_is_pinned_by_sha256(server, project):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"animefaces/images/{i}.jpg", jpeg(np.full((9, 9, 3), 50 * i, np.uint8)))
    server.files["/kaggle/archive.zip"] = buf.getvalue()
    sha = hashlib.sha256(buf.getvalue()).hexdigest()
    project({"anime": {"source": "anime_faces", "image_size": 8,
                       "options": {"archive": server.url("/kaggle/archive.zip"), "sha256": "f" * 64, "retries": 0}}})
    with pytest.raises(GanflowError, match=r"(?s)datasets\.anime\.options\.archive: .*checksum mismatch"):
        stage("fetch", "anime")
    project({"anime": {"source": "anime_faces", "image_size": 8,
                       "options": {"archive": server.url("/kaggle/archive.zip"), "sha256": sha}}})
    stage("fetch", "anime")
    stage("pair", "anime")
    assert sorted(manifest("anime").id) == ["id_0", "id_1", "id_2"]


def test_mnist_truncated_idx_is_named(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 100))
    with pytest.raises(GanflowError, match=r"x-images-idx3-ubyte.gz: 100 data bytes.*truncated"):
        mnist.read_idx(path)


def _serve_flowers(server, monkeypatch) -> None:
    from scipy.io import savemat

    members = {f"jpg/image_{i:05d}.jpg": jpeg(np.full((10, 14, 3), 20 * i, np.uint8)) for i in range(1, 7)}
    files = {"102flowers.tgz": tar_gz(members)}
    for name, content in (("imagelabels.mat", {"labels": np.array([[1, 2, 1, 3, 2, 3]])}),
                          ("setid.mat", {"trnid": np.array([[1, 2, 6]]), "valid": np.array([[3, 4]]),
                                         "tstid": np.array([[5]])})):
        buf = io.BytesIO()
        savemat(buf, content)
        files[name] = buf.getvalue()
    for name, data in files.items():
        server.files[f"/vgg/{name}"] = data
    new = {f.name: RemoteFile(f.name, md5=md5(files[f.name])) for f in (flowers.IMAGES, flowers.LABELS, flowers.SETID)}
    monkeypatch.setattr(flowers, "IMAGES", new["102flowers.tgz"])
    monkeypatch.setattr(flowers, "LABELS", new["imagelabels.mat"])
    monkeypatch.setattr(flowers, "SETID", new["setid.mat"])


def test_flowers_labels_and_official_split(server, project, monkeypatch):
    _serve_flowers(server, monkeypatch)
    project({"flowers": {"source": "flowers102", "image_size": 8, "options": {"mirrors": [server.url("/vgg/")]}}})
    stage("fetch", "flowers")
    stage("pair", "flowers")
    m = manifest("flowers").set_index("id")
    assert list(m.columns) == ["split", "image", "label", "label_name"]
    assert m.loc["image_00004"].tolist() == ["val", "val/image_00004.png", 2, "class_003"]
    assert sorted(m.split) == ["test", "train", "train", "train", "val", "val"]
    assert meta("flowers")["classes"] == ["class_001", "class_002", "class_003"]


def test_flowers_captions_from_a_pinned_archive(server, project, monkeypatch, tmp_path):
    _serve_flowers(server, monkeypatch)
    captions = {f"cvpr2016_flowers/text_c10/class_0000{1 + (i % 3)}/image_{i:05d}.txt":
                f"a flower number {i}\nits petals are | odd {i}\n".encode() for i in range(1, 6)}  # 6 has none
    captions["cvpr2016_flowers/embeddings.h5"] = b"not text"
    archive = tmp_path / "cvpr2016_flowers.tar.gz"
    archive.write_bytes(tar_gz(captions))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    opts = {"mirrors": [server.url("/vgg/")], "captions": str(archive)}

    project({"ft": {"source": "flowers102_captions", "image_size": 8, "options": opts}})
    with pytest.raises(GanflowError, match=r"datasets\.ft\.options: .*captions_sha256 is required"):
        stage("fetch", "ft")
    project({"ft": {"source": "flowers102_captions", "image_size": 8, "options": {**opts, "captions_sha256": "0" * 64}}})
    with pytest.raises(GanflowError, match=r"datasets\.ft\.options\.captions = .*sha256 is [0-9a-f]{64}"):
        stage("fetch", "ft")
    assert not Path("data/raw/ft").exists()

    project({"ft": {"source": "flowers102_captions", "image_size": 8, "options": {**opts, "captions_sha256": sha}}})
    stage("fetch", "ft")
    with pytest.raises(GanflowError, match=r"(?s)1 bad input.*image_00006.jpg: no captions"):
        stage("pair", "ft")
    project({"ft": {"source": "flowers102_captions", "image_size": 8,
                    "options": {**opts, "captions_sha256": sha, "on_bad": "skip"}}})
    stage("pair", "ft")
    m = manifest("ft").set_index("id")
    assert list(m.columns) == ["split", "image", "label", "label_name", "captions"]
    assert m.loc["image_00002", "captions"] == "a flower number 2 | its petals are / odd 2"
    assert "image_00006" not in m.index
    assert pd.read_csv("data/pairs/ft/skipped.csv").id.tolist() == ["image_00006"]


# -------------------------------------------------------------------- failing cleanly


def test_wrong_checksum_fails_leaving_nothing(server, project):
    server.files["/pix2pix/facades.tar.gz"] = tar_gz(PIX2PIX)
    project(pix2pix_params(server, sha256="ab" * 32))
    with pytest.raises(GanflowError) as err:
        stage("fetch", "facades")
    assert f"checksum mismatch: sha256 expected {'ab' * 32}" in str(err.value) and server.url("/pix2pix/facades.tar.gz") in str(err.value)
    assert leftovers() == ["data/downloads/.gitignore"]


def test_truncated_transfer_fails_then_resumes(server, project):
    archive = tar_gz(PIX2PIX)
    server.files["/pix2pix/facades.tar.gz"] = archive
    server.truncate["/pix2pix/facades.tar.gz"] = 1
    project(pix2pix_params(server, sha256=hashlib.sha256(archive).hexdigest()))
    with pytest.raises(GanflowError, match="truncated"):
        stage("fetch", "facades")
    # Only the resumable .part is left; nothing under a final name, no raw folder.
    assert leftovers() == ["data/downloads/.gitignore", "data/downloads/pix2pix/facades.tar.gz.part"]
    stage("fetch", "facades")  # the next run asks for the rest only
    assert server.log[-1][1:] == (206, f"bytes={len(archive) // 2}-")
    assert Path("data/downloads/pix2pix/facades.tar.gz").read_bytes() == archive
    assert Path("data/raw/facades/data/facades/train/1.jpg").is_file()


def test_every_mirror_failing_lists_every_url(server, project):
    project({"facades": {"source": "pix2pix", "options": {
        "set": "facades", "mirrors": [server.url("/one/"), server.url("/two/")], "retries": 0}}})
    with pytest.raises(GanflowError) as err:
        stage("fetch", "facades")
    text = str(err.value)
    assert server.url("/one/facades.tar.gz") in text and server.url("/two/facades.tar.gz") in text
    assert text.count("HTTP 404") == 2


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "facades/../../evil.txt"])
def test_path_traversal_member_refused_leaving_nothing(server, project, tmp_path, member):
    server.files["/pix2pix/facades.tar.gz"] = tar_gz({**PIX2PIX, member: b"gotcha"})
    project(pix2pix_params(server))
    with pytest.raises(GanflowError, match="refusing to extract.*evil.txt"):
        stage("fetch", "facades")
    assert not Path("data/raw/facades").exists()
    assert not list(tmp_path.parent.rglob("evil.txt")) and not Path("/tmp/evil.txt").exists()
    assert [p for p in leftovers() if "raw" in p] == []


def test_too_large_archive_refused(server, project):
    server.files["/pix2pix/facades.tar.gz"] = tar_gz(PIX2PIX)
    project(pix2pix_params(server, max_extract_bytes=1000))
    with pytest.raises(GanflowError, match="exceeds max_bytes=1000"):
        stage("fetch", "facades")
    assert not Path("data/raw").exists() or not any(Path("data/raw").iterdir())


def test_failed_refetch_keeps_the_previous_raw_data(server, project):
    archive = tar_gz(PIX2PIX)
    server.files["/pix2pix/facades.tar.gz"] = archive
    project(pix2pix_params(server))
    stage("fetch", "facades")
    before = Path("data/raw/facades/source.json").read_text()
    project(pix2pix_params(server, max_extract_bytes=1000))
    with pytest.raises(GanflowError):
        stage("fetch", "facades")
    assert Path("data/raw/facades/source.json").read_text() == before
    assert sorted(p.name for p in Path("data/raw").iterdir()) == ["facades"]


# ------------------------------------------------------------------------------ options


@pytest.mark.parametrize("options, message", [
    ({"set": "facades", "colour": 1}, r"datasets\.facades\.options\.colour: unknown option"),
    ({"set": "shoes"}, r"datasets\.facades\.options\.set: Input should be 'facades'"),
    ({"set": "facades", "direction": "AtoC"}, r"datasets\.facades\.options\.direction:"),
    ({"set": "facades", "sha256": "xyz"}, r"datasets\.facades\.options\.sha256:"),
    ({}, r"datasets\.facades\.options\.set: Field required"),
    ({"set": "facades", "on_bad": "ignore"}, r"datasets\.facades\.options\.on_bad:"),
    ({"set": "facades", "max_images": 0}, r"datasets\.facades\.options\.max_images:"),
])
def test_bad_options_name_their_key(project, options, message):
    project({"facades": {"source": "pix2pix", "options": options}})
    with pytest.raises(GanflowError, match=message):
        stage("fetch", "facades")
    assert not Path("data").exists()


def test_celeba_attribute_names_are_checked(project):
    project({"c": {"source": "celeba", "options": {"attributes": ["Male", "Smiling_A_Lot"]}}})
    with pytest.raises(GanflowError, match=r"datasets\.c\.options\.attributes: .*Smiling_A_Lot"):
        stage("fetch", "c")


# ------------------------------------------------------------------------ offline default


def test_offline_default_runs_unchanged(tmp_path):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    cmd = [sys.executable, "-m", "ganflow.cli"]
    for args in (["fetch", "--dataset", "lfw_faces"], ["pair", "--dataset", "lfw_faces"]):
        subprocess.run(cmd + args, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    m = pd.read_csv(tmp_path / "data/pairs/lfw_faces/manifest.csv")
    assert list(m.columns) == ["id", "split", "image"] and len(m) == 100
    assert (m.split == "test").sum() == 20
    d = json.loads((tmp_path / "data/pairs/lfw_faces/dataset.json").read_text())
    assert d == {"dataset": "lfw_faces", "source": "skimage_lfw_faces", "layout": "single", "image_size": 64,
                 "channels": 1, "resize": "bicubic (PIL, float32)", "split_rule": d["split_rule"],
                 "n_train": 80, "n_test": 20}
    assert Image.open(tmp_path / "data/pairs/lfw_faces" / m.image[0]).size == (64, 64)
    assert not (tmp_path / "data/downloads").exists()  # nothing was downloaded
