"""download(): mirrors, retries, resume, checksums, Google Drive confirmation.

Every test talks only to an http.server the fixture starts on 127.0.0.1 (port
0), or to a port on 127.0.0.1 that was just closed: no other address is ever
contacted, and proxy variables are cleared so nothing is routed elsewhere.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import math
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

import pytest

import ganflow
from ganflow.data.download import DownloadError, download, gdrive_url


class FileServer:
    """What the test server serves and how it misbehaves; tests edit it freely."""

    def __init__(self) -> None:
        self.base = ""  # http://127.0.0.1:<port>, set by the fixture
        self.files: dict[str, bytes] = {}  # URL path -> body; anything else is a 404
        self.ranges = True  # honour "Range: bytes=N-" with 206
        self.truncate: dict[str, float] = {}  # path -> how many more responses to cut in half
        self.fail: dict[str, list[int]] = {}  # path -> statuses to answer first, one per request
        self.delay: dict[str, float] = {}  # path -> seconds to wait before answering
        self.trickle: dict[str, float] = {}  # path -> seconds between bytes of the body
        self.trickle_headers: dict[str, float] = {}  # path -> seconds between bytes of the headers
        self.gdrive: dict[str, bytes] = {}  # Drive file id -> body, for /uc and /download
        self.log: list[dict] = []  # one entry per request: path, headers, status
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return self.base + path

    def requests_for(self, path: str) -> list[dict]:
        return [entry for entry in self.log if urllib.parse.urlsplit(entry["path"]).path == path]


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state: FileServer = self.server.state  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        path, query = parts.path, dict(urllib.parse.parse_qsl(parts.query))
        entry = {"path": self.path, "headers": dict(self.headers), "status": None}
        with state.lock:
            state.log.append(entry)
            failures = state.fail.get(path)
            forced = failures.pop(0) if failures else None
            cut = state.truncate.get(path, 0) > 0
            if cut:
                state.truncate[path] -= 1
        time.sleep(state.delay.get(path, 0))
        self._gap = state.trickle.get(path, 0)
        if state.trickle_headers.get(path):
            self.wfile = _Trickling(self.wfile, state.trickle_headers[path])

        if forced is not None:
            return self._send(entry, forced, b"forced failure")
        if path in ("/uc", "/download") and query.get("id") in state.gdrive:
            return self._gdrive(entry, state, path, query)
        if path not in state.files:
            return self._send(entry, 404, b"not found")
        self._serve(entry, state, state.files[path], cut)

    def _serve(self, entry: dict, state: FileServer, body: bytes, cut: bool) -> None:
        status, start = 200, 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        headers = {"Content-Type": "application/octet-stream"}
        if match and state.ranges:
            start = int(match[1])
            if start >= len(body):
                return self._send(entry, 416, b"", {"Content-Range": f"bytes */{len(body)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        payload = body[start:]
        # A truncated answer promises the whole payload, sends half, and the
        # HTTP/1.0 server then closes the connection.
        self._send(entry, status, payload, headers, send=payload[: len(payload) // 2] if cut else None)

    def _gdrive(self, entry: dict, state: FileServer, path: str, query: dict) -> None:
        file_id = query["id"]
        if path == "/download":
            # Current Drive: a form with hidden inputs, submitted by GET.
            if query.get("confirm") == "t" and query.get("uuid") == "u-123":
                return self._send(entry, 200, state.gdrive[file_id])
            page = (
                "<!DOCTYPE html><html><body><p>Google Drive can't scan this file for viruses.</p>"
                f'<form id="download-form" action="{state.base}/download" method="get">'
                '<input type="submit" value="Download anyway"/>'
                f'<input type="hidden" name="id" value="{file_id}">'
                '<input type="hidden" name="export" value="download">'
                '<input type="hidden" name="confirm" value="t">'
                '<input type="hidden" name="uuid" value="u-123"></form></body></html>'
            )
            return self._send(entry, 200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
        # Older Drive: a link with confirm=<token>, valid only with its cookie.
        token = "Xy_9"
        if query.get("confirm") == token and f"download_warning_{file_id}={token}" in self.headers.get(
            "Cookie", ""
        ):
            return self._send(entry, 200, state.gdrive[file_id])
        page = (
            "<html><body>Too large to scan. "
            f'<a href="/uc?export=download&amp;confirm={token}&amp;id={file_id}">Download anyway</a>'
            "</body></html>"
        )
        self._send(
            entry,
            200,
            page.encode(),
            {
                "Content-Type": "text/html; charset=utf-8",
                "Set-Cookie": f"download_warning_{file_id}={token}; Path=/",
            },
        )

    def _send(self, entry, status, body, headers=None, send=None) -> None:
        entry["status"] = status
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "application/octet-stream"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        payload = body if send is None else send
        if not getattr(self, "_gap", 0):
            self.wfile.write(payload)
            return
        for i in range(len(payload)):  # a server that trickles: one byte per gap, each in time
            self.wfile.write(payload[i:i + 1])
            self.wfile.flush()
            time.sleep(self._gap)


class _Trickling:
    """A wfile that sends every byte on its own, ``gap`` seconds apart (headers included)."""

    def __init__(self, wfile, gap: float):
        self.wfile, self.gap = wfile, gap

    def write(self, data: bytes) -> int:
        for i in range(len(data)):
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            time.sleep(self.gap)
        return len(data)

    def flush(self) -> None:
        self.wfile.flush()


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up (the timeout test) makes the handler's write
        # fail with a broken pipe; that is expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def server(monkeypatch):
    # Never let urllib route the test traffic through a proxy.
    for name in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")
    state = FileServer()
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.state = state  # type: ignore[attr-defined]
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


# No progress bars, no real sleeping, a short timeout.
fetch = functools.partial(download, progress=False, sleep=lambda seconds: None, timeout=5)

DATA = os.urandom(3 * 2**20 + 12345)  # spans several 1 MiB chunks
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------------------------ success


def test_success_with_sha256_and_md5(server, tmp_path):
    server.files["/a.bin"] = DATA
    dest = tmp_path / "sub" / "a.bin"
    assert fetch([server.url("/a.bin")], dest, sha256=SHA, md5=MD5.upper()) == dest
    assert dest.read_bytes() == DATA
    assert _leftovers(dest.parent) == ["a.bin"]
    (request,) = server.log
    assert request["headers"]["User-Agent"] == f"ganflow/{getattr(ganflow, '__version__', '0')}"
    assert "Range" not in request["headers"]


def test_second_mirror_used_when_first_404s(server, tmp_path):
    server.files["/good.bin"] = DATA
    dest = tmp_path / "a.bin"
    fetch([server.url("/missing.bin"), server.url("/good.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    # A 404 is permanent: the first mirror is asked once, not retried.
    assert [entry["status"] for entry in server.log] == [404, 200]


def test_transient_http_error_is_retried(server, tmp_path):
    server.files["/a.bin"] = DATA
    server.fail["/a.bin"] = [503, 500]
    fetch([server.url("/a.bin")], tmp_path / "a.bin", sha256=SHA)
    assert [entry["status"] for entry in server.log] == [503, 500, 200]


def test_no_checksum_still_downloads(server, tmp_path):
    server.files["/a.bin"] = b"hello"
    assert fetch(server.url("/a.bin"), tmp_path / "a.bin").read_bytes() == b"hello"


# ----------------------------------------------------------------- failures


def test_wrong_checksum_lists_both_urls_and_leaves_nothing(server, tmp_path):
    server.files["/one.bin"] = b"not it"
    server.files["/two.bin"] = b"not it either"
    urls = [server.url("/one.bin"), server.url("/two.bin")]
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError) as info:
        fetch(urls, dest, sha256=SHA)
    message = str(info.value)
    for url, body in zip(urls, [b"not it", b"not it either"]):
        assert url in message
        assert f"expected {SHA} got {hashlib.sha256(body).hexdigest()}" in message
    assert [url for url, _ in info.value.failures] == urls
    assert isinstance(info.value, RuntimeError)
    # Checksum mismatches are not retried on the same URL.
    assert len(server.log) == 2
    assert _leftovers(tmp_path) == []


def test_truncation_retried_then_fails_without_range_support(server, tmp_path):
    server.files["/a.bin"] = DATA
    server.ranges = False
    server.truncate["/a.bin"] = math.inf
    sleeps: list[float] = []
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError) as info:
        download(
            [server.url("/a.bin")], dest, sha256=SHA, retries=2, backoff=0.5,
            progress=False, sleep=sleeps.append, timeout=5,
        )
    assert f"truncated: got {len(DATA) // 2} of {len(DATA)} bytes" in str(info.value)
    assert "gave up after 3 attempts" in str(info.value)
    assert len(server.log) == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff
    assert not dest.exists()


@pytest.mark.parametrize("ranges", [True, False], ids=["resumed-206", "restarted-200"])
def test_truncation_then_recovery(server, tmp_path, ranges):
    server.files["/a.bin"] = DATA
    server.ranges = ranges
    server.truncate["/a.bin"] = 1  # only the first answer is cut short
    dest = tmp_path / "a.bin"
    fetch([server.url("/a.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    first, second = server.log
    assert first["status"] == 200
    # The retry asks for the missing half; a server without Range support
    # sends everything again and the .part is rewritten from zero.
    assert second["headers"]["Range"] == f"bytes={len(DATA) // 2}-"
    assert second["status"] == (206 if ranges else 200)


def test_existing_part_is_resumed_with_range(server, tmp_path):
    server.files["/a.bin"] = DATA
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(DATA[:1000])
    fetch([server.url("/a.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    (request,) = server.log
    assert request["headers"]["Range"] == "bytes=1000-" and request["status"] == 206
    assert _leftovers(tmp_path) == ["a.bin"]


def test_existing_part_restarts_when_server_ignores_range(server, tmp_path):
    server.files["/a.bin"] = DATA
    server.ranges = False
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(b"x" * 5000)  # not even a prefix of DATA
    fetch([server.url("/a.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA


def test_stale_part_gets_one_clean_retry(server, tmp_path):
    server.files["/a.bin"] = DATA
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(b"x" * 5000)  # resuming this gives a wrong file
    fetch([server.url("/a.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    assert [entry["status"] for entry in server.log] == [206, 200]


def test_complete_part_is_verified_and_renamed(server, tmp_path):
    server.files["/a.bin"] = DATA
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(DATA)  # a run that died before the rename
    fetch([server.url("/a.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    assert [entry["status"] for entry in server.log] == [416]


def test_existing_good_file_needs_no_request(server, tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(DATA)
    urls = [server.url("/a.bin"), f"http://127.0.0.1:{_closed_port()}/a.bin"]
    assert fetch(urls, dest, sha256=SHA) == dest
    assert fetch(urls, dest) == dest  # no checksum: an existing file is trusted
    assert server.log == []


def test_existing_bad_file_is_replaced(server, tmp_path):
    server.files["/a.bin"] = DATA
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"corrupt")
    fetch([server.url("/a.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    assert len(server.log) == 1


def test_closed_port_names_the_url(server, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/a.bin"
    with pytest.raises(DownloadError) as info:
        fetch([url], tmp_path / "a.bin", retries=1)
    assert f"{url}: connection refused (gave up after 2 attempts)" in str(info.value)
    assert _leftovers(tmp_path) == []


def test_timeout_is_reported(server, tmp_path):
    server.files["/slow.bin"] = DATA
    server.delay["/slow.bin"] = 1.0
    url = server.url("/slow.bin")
    with pytest.raises(DownloadError) as info:
        download([url], tmp_path / "a.bin", retries=0, timeout=0.2, progress=False)
    assert f"{url}: timeout after 0.2s" in str(info.value)


def test_a_trickling_body_fails_on_the_rate_floor(server, tmp_path):
    """One byte every 0.1 s never trips the per-read timeout; the rate floor ends the attempt."""
    server.files["/trickle.bin"] = DATA
    server.trickle["/trickle.bin"] = 0.1
    url = server.url("/trickle.bin")
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download([url], tmp_path / "a.bin", retries=1, timeout=1, min_rate=1000, progress=False,
                 sleep=lambda s: None)
    assert time.monotonic() - started < 30  # it ends (the old code ran until killed)
    message = str(info.value)
    assert f"{url}: slower than the minimum rate" in message and "below min_rate 1000 B/s" in message
    assert "gave up after 2 attempts" in message
    assert not (tmp_path / "a.bin").exists()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_fails_on_the_deadline(server, tmp_path, where):
    """Without a rate floor, the deadline per attempt still bounds a trickle, even in the headers."""
    server.files["/trickle.bin"] = DATA
    (server.trickle_headers if where == "headers" else server.trickle)["/trickle.bin"] = 0.05
    url = server.url("/trickle.bin")
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download([url], tmp_path / "a.bin", retries=0, timeout=5, deadline=1.0, min_rate=0, progress=False)
    assert time.monotonic() - started < 30
    assert f"{url}: no complete answer within the deadline of 1s per attempt" in str(info.value)
    assert not (tmp_path / "a.bin").exists()


def test_a_fast_server_is_not_cut_by_the_limits(server, tmp_path):
    server.files["/ok.bin"] = DATA
    got = download([server.url("/ok.bin")], tmp_path / "a.bin", sha256=SHA, timeout=5, deadline=60,
                   min_rate=1000, progress=False)
    assert got.read_bytes() == DATA


# ------------------------------------------------------------- local files


def test_local_path_and_file_url(server, tmp_path):
    source = tmp_path / "manual download.bin"
    source.write_bytes(DATA)
    first = fetch([str(source)], tmp_path / "out" / "a.bin", sha256=SHA)
    second = fetch([source.as_uri()], tmp_path / "out" / "b.bin", sha256=SHA)
    assert first.read_bytes() == second.read_bytes() == DATA
    assert server.log == []


def test_local_mirror_falls_back_to_network(server, tmp_path):
    server.files["/a.bin"] = DATA
    missing = tmp_path / "nope.bin"
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"wrong")
    dest = tmp_path / "a.bin"
    fetch([str(missing), wrong.as_uri(), server.url("/a.bin")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA


def test_local_failures_are_reported(tmp_path):
    missing = tmp_path / "nope.bin"
    with pytest.raises(DownloadError, match=re.escape(f"no such file: {missing}")):
        fetch([str(missing)], tmp_path / "a.bin")


# ------------------------------------------------------------- Google Drive


@pytest.mark.parametrize("path", ["/download", "/uc"], ids=["form", "legacy-token-and-cookie"])
def test_gdrive_confirmation_flow(server, tmp_path, path):
    server.gdrive["FILEid_1234"] = DATA
    dest = tmp_path / "celeba.zip"
    fetch([server.url(f"{path}?export=download&id=FILEid_1234")], dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    first, second = server.log
    assert "confirm=" not in first["path"]
    assert "confirm=" in second["path"]


def test_gdrive_url():
    expected = "https://drive.google.com/uc?export=download&id=0B7EVK8r0v71pZjFTYXZWM3FlRnM"
    assert gdrive_url("0B7EVK8r0v71pZjFTYXZWM3FlRnM") == expected
    assert gdrive_url("https://drive.google.com/file/d/0B7EVK8r0v71pZjFTYXZWM3FlRnM/view?usp=sharing") == expected
    assert gdrive_url("https://drive.google.com/open?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM") == expected
    with pytest.raises(ValueError):
        gdrive_url("not an id!")


# ---------------------------------------------------------------- arguments


def test_argument_validation(tmp_path):
    with pytest.raises(ValueError, match="sha256"):
        fetch(["x"], tmp_path / "a", sha256="abc")
    with pytest.raises(ValueError, match="at least one URL"):
        fetch([], tmp_path / "a")


def test_progress_bar(server, tmp_path, capsys):
    server.files["/a.bin"] = DATA
    download([server.url("/a.bin")], tmp_path / "a.bin", sha256=SHA, timeout=5)
    assert "a.bin" in capsys.readouterr().err
