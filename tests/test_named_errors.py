"""Every bad input a user can give ends in a named error: one sentence naming the file (or key),
exit code 1, and no traceback unless -v.  The library raises GanflowError subclasses, which
``except Exception`` catches; only the CLI turns them into exit codes.

The network cases talk only to an http.server this file starts on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import http.server
import io
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import ROOT, copy_project
from ganflow.cli import main
from ganflow.errors import CheckpointError, GanflowError, ParamsError, reading
from ganflow.params import load_params


def ganflow(capsys, *argv: str) -> tuple[int, str]:
    """(exit code, stderr) of the console script run in-process."""
    code = main(list(argv))
    return code, capsys.readouterr().err


def write_params(datasets: dict, experiments: dict | None = None) -> None:
    Path("params.yaml").write_text(yaml.safe_dump({"datasets": datasets, "experiments": experiments or {},
                                                   "train": {}}))


def png(path: Path, size=(12, 12), value=100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, np.uint8)).save(path)
    return path


# ------------------------------------------------------------------ the library's exceptions


def test_except_exception_catches_a_params_error(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("datasets: {d: {source: image_folder, image_size: 7}}\nexperiments: {}\n")
    try:
        load_params(bad)
    except Exception as e:  # noqa: BLE001 -- the point: a notebook's catch-all sees it
        caught = e
    assert isinstance(caught, ParamsError) and isinstance(caught, GanflowError)
    assert not isinstance(caught, SystemExit)
    assert "datasets.d.image_size" in str(caught)


def test_a_ganflow_error_is_one_sentence_and_exit_1(in_tmp, capsys):
    code, err = ganflow(capsys, "summary", "--exp", "nope", "--params", "missing.yaml")
    assert code == 1 and "missing.yaml: not found" in err and "Traceback" not in err


def test_an_unexpected_exception_names_the_command_and_the_file(in_tmp, capsys, monkeypatch):
    """The last resort: a bug (here a forced ZeroDivisionError) while a file is being read."""
    import ganflow.stages.listing as listing

    def broken(args):
        with reading("data/raw/d/odd.png"):
            return 1 // 0

    monkeypatch.setattr(listing, "main", broken)
    code, err = ganflow(capsys, "list", "models")
    assert code == 70
    assert "ganflow list: unexpected ZeroDivisionError while reading data/raw/d/odd.png" in err
    assert "Traceback" not in err and "-v" in err
    code, err = ganflow(capsys, "-v", "list", "models")
    assert code == 70 and "Traceback" in err  # -v: where it was raised


# -------------------------------------------------------------------------------- downloads


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a 1 MB body, one byte every 0.05 s."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(2**20))
        self.end_headers()
        try:
            for _ in range(2**20):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:  # the client gave up: expected
            pass


@pytest.fixture
def trickle_server(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_trickling_server_ends_the_fetch_with_the_url_named(in_tmp, capsys, trickle_server):
    url = f"{trickle_server}/faces.zip"
    write_params({"d": {"source": "image_folder", "image_size": 8,
                        "options": {"archive": url, "sha256": "0" * 64, "timeout": 1, "retries": 0}}})
    started = time.monotonic()
    code, err = ganflow(capsys, "fetch", "--dataset", "d")
    assert time.monotonic() - started < 60  # it ends: the default min_rate (1 kB/s) is not met
    assert code == 1 and "Traceback" not in err
    assert f"{url}: slower than the minimum rate" in err
    assert not Path("data/raw/d").exists()


def test_max_members_is_a_data_set_option(in_tmp, capsys):
    archive = in_tmp / "faces.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(5):
            buf = io.BytesIO()
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(buf, format="PNG")
            zf.writestr(f"faces/{i}.png", buf.getvalue())
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    write_params({"d": {"source": "image_folder", "image_size": 8,
                        "options": {"archive": str(archive), "sha256": sha, "max_members": 3}}})
    code, err = ganflow(capsys, "fetch", "--dataset", "d")
    assert code == 1 and "faces.zip" in err and "more than 3 members" in err and "Traceback" not in err
    assert not Path("data/raw/d").exists()


# ----------------------------------------------------------------------------- local folders


def test_a_link_out_of_a_local_folder_is_refused_and_nothing_is_copied(in_tmp, capsys, tmp_path_factory):
    outside = tmp_path_factory.mktemp("staff") / "secret.png"
    png(outside)
    png(in_tmp / "faces/a.png")
    (in_tmp / "faces/b.png").symlink_to(outside)
    write_params({"d": {"source": "image_folder", "image_size": 8, "options": {"path": "faces"}}})
    code, err = ganflow(capsys, "fetch", "--dataset", "d")
    assert code == 1 and "Traceback" not in err
    assert f"faces/b.png -> {outside} (outside faces)" in err
    assert not Path("data/raw/d").exists()


def test_a_link_to_a_file_inside_the_folder_is_followed(in_tmp, capsys):
    png(in_tmp / "faces/a.png", value=10)
    png(in_tmp / "faces/b.png", value=200)
    (in_tmp / "faces/c.png").symlink_to(in_tmp / "faces/a.png")
    write_params({"d": {"source": "image_folder", "image_size": 8, "options": {"path": "faces"}}})
    code, err = ganflow(capsys, "fetch", "--dataset", "d")
    assert code == 0, err
    copied = sorted(p.name for p in Path("data/raw/d").rglob("*.png"))
    assert copied == ["a.png", "b.png", "c.png"]
    assert not next(Path("data/raw/d").rglob("c.png")).is_symlink()  # a file, not a link to outside data/


# -------------------------------------------------------------------------------------- images


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height grey pixels, with almost no data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("case", ["pillow_bomb", "over_the_params_limit"])
def test_a_decompression_bomb_stops_pair_with_the_file_named(in_tmp, capsys, case):
    for i in range(3):
        png(in_tmp / f"faces/ok{i}.png", value=50 * i)
    options = {"path": "faces"}
    dataset = {"source": "image_folder", "image_size": 8, "options": options}
    if case == "pillow_bomb":  # 30000 x 30000: over twice Pillow's limit, refused as it opens
        (in_tmp / "faces/bomb.png").write_bytes(_png_declaring(30000, 30000))
        expected = "bomb.png: refused as a decompression bomb"
    else:  # a real image over datasets.<name>.max_image_pixels: refused before decoding
        png(in_tmp / "faces/bomb.png", size=(200, 100))
        dataset["max_image_pixels"] = 10_000
        expected = "bomb.png: 200 x 100 pixels is over the limit of 10,000"
    write_params({"d": dataset})
    assert ganflow(capsys, "fetch", "--dataset", "d")[0] == 0
    code, err = ganflow(capsys, "pair", "--dataset", "d")
    assert code == 1 and expected in err and "Traceback" not in err
    assert not Path("data/pairs/d").exists()


def test_exif_orientation_is_applied(tmp_path):
    from ganflow.data.images import load_image

    stored = np.zeros((10, 20), np.uint8)
    stored[:, 10:] = 255  # as stored: left half black, right half white, 20 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the viewer turns it 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = load_image(tmp_path / "phone.jpg")
    assert shown.shape == (20, 10)  # upright: as every viewer shows it
    assert shown[:8].mean() < 0.1 and shown[12:].mean() > 0.9  # the left half became the top


# ----------------------------------------------------------------- checkpoints and statistics


@pytest.mark.parametrize("case", ["wrong_structure", "random_bytes", "code_payload"])
def test_a_bad_checkpoint_is_named_with_what_is_wrong(in_tmp, capsys, case):
    shutil.copy(ROOT / "params.yaml", in_tmp / "params.yaml")
    ckpt = in_tmp / "results/pix2pix/model/checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    if case == "wrong_structure":  # loads weights-only, but is not what ganflow writes
        torch.save({"weights": torch.zeros(3), "step": 5}, ckpt)
        expected = f"{ckpt.relative_to(in_tmp)}: no 'model_name' entry"
    elif case == "random_bytes":
        ckpt.write_bytes(np.random.default_rng(0).bytes(5000))
        expected = f"{ckpt.relative_to(in_tmp)}: not a checkpoint (not the zip archive torch.save writes"
    else:
        import pickle

        class Payload:
            def __reduce__(self):
                return (os.system, ("echo pwned",))
        ckpt.write_bytes(pickle.dumps({"model": Payload()}))
        expected = "a pickle payload could run code"
    code, err = ganflow(capsys, "generate", "--exp", "pix2pix", "-n", "1")
    assert code == 1 and expected in err and "Traceback" not in err and "pwned" not in err


def test_a_checkpoint_for_another_architecture_is_named(in_tmp):
    from ganflow.stages.train import load_trained

    shutil.copy(ROOT / "params.yaml", in_tmp / "params.yaml")
    ckpt = in_tmp / "results/pix2pix/model/checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"model_name": "pix2pix", "step": 1, "model": {"G.nonsense": torch.zeros(1)},
                "params": {"train": {"net": {}, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999}},
                "data_info": {"channels": 1, "image_size": 32}}, ckpt)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: its weights or settings do not fit a pix2pix"):
        load_trained(load_params("params.yaml"), "pix2pix", torch.device("cpu"))


def test_a_stats_file_declaring_a_huge_array_is_refused_before_allocating(in_tmp, capsys):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (100_000, 1_000_000)})  # 745 GiB
    with zipfile.ZipFile(in_tmp / "forged.npz", "w") as zf:
        zf.writestr("mu.npy", header.getvalue() + b"\0" * 64)  # the header writer puts the magic first
        zf.writestr("sigma.npy", header.getvalue() + b"\0" * 64)
    np.savez(in_tmp / "good.npz", mu=np.zeros(4), sigma=np.eye(4))
    code, err = ganflow(capsys, "fid", "forged.npz", "good.npz")
    assert code == 1 and "Traceback" not in err
    assert "forged.npz: array 'mu' declares shape (100000, 1000000)" in err and "corrupt or forged" in err


# ----------------------------------------------------------------------------------- snakemake


@pytest.mark.slow
def test_snakemake_names_params_yaml_on_a_yaml_error(tmp_path):
    work = copy_project(tmp_path / "proj")
    with open(work / "params.yaml", "a") as f:
        f.write('\nhook: !!python/object/apply:os.system ["echo pwned"]\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'params.yaml: not valid YAML' in output and 'in "params.yaml", line' in output
    assert "Traceback" not in output and "common.smk" not in output and "pwned" not in output
