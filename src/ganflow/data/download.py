"""The one download path every data set goes through (stdlib ``urllib`` only).

:func:`download` fetches a file from a list of mirrors and promises that a file
appears under its final name only complete and verified:

* mirrors are tried in order; each gets ``retries`` extra attempts with
  exponential backoff for *transient* failures (timeouts, dropped connections,
  truncated bodies, HTTP 5xx/408/429).  Permanent failures (HTTP 404 and other
  4xx, a checksum mismatch, a missing local file) move on to the next mirror at
  once, because asking the same server again gives the same answer;
* bytes stream into ``<dest>.part``; a leftover ``.part`` (from a dropped
  connection or an interrupted run) is resumed with an HTTP ``Range`` request
  when the server answers ``206``, and restarted from zero when it answers
  ``200``;
* checksums are computed while streaming and checked *before* ``os.replace``
  gives the file its final name, so a crash or a bad mirror can never leave a
  wrong file where later stages would trust it;
* each attempt has an overall ``deadline`` and a minimum average rate
  (``min_rate`` bytes/s over every ``timeout``-second window, like curl's
  ``--speed-limit``/``--speed-time``): the socket timeout alone bounds each
  read, so a server that trickles a byte at a time would otherwise hold the
  download forever.  Both are transient failures (retry, then next mirror);
* ``file://`` URLs and plain local paths are copied through the same path
  (with the checksum check), so a user can point at an archive they fetched by
  hand;
* Google Drive's "can't scan this file for viruses" confirmation page is
  followed automatically (see :func:`gdrive_url`).

On total failure :class:`DownloadError` lists every URL with its reason.  A
``.part`` left by a transient failure is kept so the next run can resume it; one
that failed its checksum is deleted.
"""
from __future__ import annotations

import hashlib
import html.parser
import http.client
import http.cookiejar
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

from tqdm import tqdm

from ganflow import errors
from ganflow.bars import shown_if

__all__ = ["DownloadError", "download", "gdrive_url"]

CHUNK_SIZE = 1 << 20
# Confirmation pages are a few KiB; this bounds what we buffer from an HTML
# response before deciding it is the file itself.
_HTML_SNIFF_LIMIT = 1 << 20
# A server that keeps answering with confirmation pages is not going to stop.
_MAX_CONFIRMATIONS = 3
# HTTP statuses worth asking the same server again for.
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_GDRIVE_HOSTS = ("drive.google.com", "drive.usercontent.google.com", "docs.google.com")
_GDRIVE_ID = re.compile(r"[0-9A-Za-z_-]{10,}")


class DownloadError(errors.DownloadError, RuntimeError):
    """Every URL failed.

    ``failures`` holds ``(url, reason)`` pairs in the order the URLs were tried;
    the message lists them one per line.
    """

    def __init__(self, dest: Path, failures: Sequence[tuple[str, str]]):
        self.dest = Path(dest)
        self.failures = list(failures)
        tried = "\n".join(f"  {url}: {reason}" for url, reason in self.failures)
        super().__init__(
            f"could not download {self.dest.name}; tried {len(self.failures)} URL(s):\n{tried}"
        )


class _Transient(Exception):
    """A failure worth retrying on the same URL."""


class _Permanent(Exception):
    """A failure the same URL would repeat: go to the next mirror."""


class _RangeNotSatisfiable(Exception):
    """HTTP 416 for our resume offset; ``total`` is the size the server reports, if any."""

    def __init__(self, total: int | None):
        super().__init__(total)
        self.total = total


@dataclass
class _Job:
    """What every attempt of one download() call shares."""

    dest: Path
    part: Path
    expected: dict[str, str]  # algorithm -> lowercase hex digest
    timeout: float
    deadline: float | None  # seconds per attempt, headers included; None: no overall limit
    min_rate: float  # bytes/s averaged over each `timeout` seconds; 0: no minimum
    progress: bool
    opener: urllib.request.OpenerDirector
    user_agent: str


# --------------------------------------------------------------------------- API


def gdrive_url(file_id: str) -> str:
    """Direct-download URL for a publicly shared Google Drive file.

    Accepts the bare file id or a share link (``.../file/d/<id>/view`` or
    ``...?id=<id>``).  Large files answer with an HTML confirmation page first;
    :func:`download` follows it.
    """
    match = re.search(r"/d/([0-9A-Za-z_-]+)|[?&]id=([0-9A-Za-z_-]+)", file_id)
    if match:
        file_id = match[1] or match[2]
    if not _GDRIVE_ID.fullmatch(file_id):
        raise ValueError(f"not a Google Drive file id or share link: {file_id!r}")
    return "https://drive.google.com/uc?" + urllib.parse.urlencode(
        {"export": "download", "id": file_id}
    )


def download(
    urls: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    md5: str | None = None,
    retries: int = 3,
    timeout: float = 30,
    deadline: float | None = None,
    min_rate: float = 0.0,
    backoff: float = 1.0,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that delivers it intact.

    Parameters
    ----------
    urls:
        Mirrors, tried in order: ``http(s)://`` URLs (``ftp://`` goes through
        urllib as well), ``file://`` URLs or local paths.  A single string is
        taken as a one-element list.
    dest:
        Final path.  Its parent is created.  The download streams into
        ``dest.name + ".part"`` next to it.
    sha256, md5:
        Expected hex digests (either, both or none).  If ``dest`` already exists
        and matches, it is returned without any network access; if it exists
        and does not match, it is deleted and fetched again.  Without a
        checksum an existing ``dest`` is trusted: it can only have got its name
        from a complete download.
    retries:
        Extra attempts per URL after the first one, for transient failures.
    timeout:
        Socket timeout in seconds (connect and each read).
    deadline:
        Overall limit in seconds for one attempt (connect, headers, body).
        ``None`` sets none.
    min_rate:
        The slowest average transfer accepted, in bytes per second, measured
        over each window of ``timeout`` seconds.  0 accepts any rate.
    backoff:
        Sleep before retry *k* (1-based) is ``backoff * 2 ** (k - 1)`` seconds.
    progress:
        Show a tqdm bar (bytes, with rate and ETA).
    sleep:
        Injected for tests; defaults to :func:`time.sleep`.

    Returns ``dest`` as a :class:`~pathlib.Path`.  Raises :class:`DownloadError`
    when every URL fails; no file is then left under the final name.
    """
    if isinstance(urls, (str, os.PathLike)):
        urls = [urls]
    urls = [os.fspath(url) for url in urls]
    if not urls:
        raise ValueError("download() needs at least one URL")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    dest = Path(dest)
    expected = _expected_digests(sha256=sha256, md5=md5)

    if dest.is_file():
        if not expected:
            return dest
        hashers = _new_hashers(expected)
        _hash_file(dest, hashers)
        if _mismatch(expected, hashers) is None:
            return dest
        # Known to be wrong: remove it now so no later stage can pick it up,
        # even if every mirror fails below.
        dest.unlink()

    dest.parent.mkdir(parents=True, exist_ok=True)
    job = _Job(
        dest=dest,
        part=dest.with_name(dest.name + ".part"),
        expected=expected,
        timeout=timeout,
        deadline=deadline,
        min_rate=min_rate,
        progress=progress,
        # One cookie jar per call: Google Drive's older confirmation flow
        # checks a cookie set by the confirmation page.
        opener=urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _WatchedHTTPHandler(),
            _WatchedHTTPSHandler(),
        ),
        user_agent=_user_agent(),
    )
    failures: list[tuple[str, str]] = []
    for url in urls:
        reason = _try_url(job, url, retries=retries, backoff=backoff, sleep=sleep)
        if reason is None:
            os.replace(job.part, dest)
            return dest
        failures.append((url, reason))
    raise DownloadError(dest, failures)


# ------------------------------------------------------------------ per mirror


def _try_url(
    job: _Job, url: str, *, retries: int, backoff: float, sleep: Callable[[float], None]
) -> str | None:
    """Up to ``retries + 1`` attempts on one URL.  None on success (the .part is
    complete and verified), else the reason to report for this URL."""
    reason = "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            hashers, resumed_from = _fetch(job, url)
        except _Transient as exc:
            reason = str(exc)
            continue
        except _Permanent as exc:
            return str(exc)
        problem = _mismatch(job.expected, hashers)
        if problem is None:
            return None
        job.part.unlink(missing_ok=True)
        if resumed_from and attempt < retries:
            # The bytes we resumed from may be the culprit (an earlier run of a
            # different file, a corrupt prefix), so this mirror gets exactly one
            # clean try: the .part is gone, the next attempt starts at zero.
            reason = f"{problem} (after resuming at byte {resumed_from})"
            continue
        return problem
    return f"{reason} (gave up after {retries + 1} attempts)"


def _fetch(job: _Job, url: str) -> tuple[dict, int]:
    """One attempt.  Returns the hashers over the whole .part and the offset
    the attempt resumed from (0 for a fresh download)."""
    local = _local_path(url)
    if local is not None:
        return _copy_local(job, local), 0
    with _Watchdog(job.deadline) as watchdog:
        try:
            fetched = _fetch_remote(job, url)
        except (_Transient, OSError, http.client.HTTPException) as exc:
            if watchdog.expired:  # the watchdog cut the connection: say why, not what broke
                raise _Transient(f"no complete answer within the deadline of {job.deadline:g}s "
                                 "per attempt (a stalled or trickling server)") from None
            if isinstance(exc, _Transient):
                raise
            raise _Transient(_describe(exc, job.timeout)) from None
    if watchdog.expired:  # cut short without an error: a body without Content-Length
        raise _Transient(f"no complete answer within the deadline of {job.deadline:g}s per attempt")
    return fetched


def _copy_local(job: _Job, src: Path) -> dict:
    try:
        handle = open(src, "rb")
    except FileNotFoundError:
        raise _Permanent(f"no such file: {src}") from None
    except OSError as exc:
        raise _Permanent(f"cannot read {src}: {exc.strerror or exc}") from None
    with handle:
        return _write_part(job, handle, offset=0, total=os.fstat(handle.fileno()).st_size)


def _fetch_remote(job: _Job, url: str) -> tuple[dict, int]:
    offset = job.part.stat().st_size if job.part.is_file() else 0
    for _ in range(_MAX_CONFIRMATIONS + 1):
        try:
            response = _open(job, url, offset)
        except _RangeNotSatisfiable as exc:
            if exc.total == offset:
                # An earlier run got every byte but stopped before the rename.
                hashers = _new_hashers(job.expected)
                _hash_file(job.part, hashers)
                return hashers, offset
            # Our .part is longer than the file (stale): start over.
            job.part.unlink(missing_ok=True)
            raise _Transient("HTTP 416 for the resume range; restarting from zero") from None
        with response:
            if response.status == 206:
                start, total = _content_range(response, offset)
                if start != offset:
                    job.part.unlink(missing_ok=True)
                    raise _Transient(f"server resumed at byte {start}, not {offset}")
                return _write_part(job, response, offset=offset, total=total), offset
            # Any other success status carries the whole file: the .part is
            # rewritten from zero (a server without Range support lands here).
            head = b""
            if response.headers.get_content_type() == "text/html":
                head = _read_up_to(response, _HTML_SNIFF_LIMIT, job.timeout)
                confirmed = _confirmation_url(head, response.geturl())
                if confirmed is not None:
                    url = confirmed
                    continue
                if _is_gdrive(response.geturl()):
                    raise _Permanent(
                        "Google Drive sent an HTML page instead of the file "
                        "(download quota exceeded, or the file is not shared publicly?)"
                    )
            total = _content_length(response)
            return _write_part(job, response, offset=0, total=total, head=head), 0
    raise _Permanent(f"still asked for confirmation after {_MAX_CONFIRMATIONS} confirmations")


def _open(job: _Job, url: str, offset: int) -> http.client.HTTPResponse:
    """Send the request; map every failure to _Transient or _Permanent."""
    request = urllib.request.Request(url, headers={"User-Agent": job.user_agent})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return job.opener.open(request, timeout=job.timeout)
    except urllib.error.HTTPError as exc:  # before URLError: it is a subclass
        exc.close()  # it holds the error response's connection
        if exc.code == 416 and offset:
            raise _RangeNotSatisfiable(_range_total(exc.headers.get("Content-Range"))) from None
        reason = f"HTTP {exc.code} {exc.reason or ''}".rstrip()
        if exc.code in _TRANSIENT_HTTP:
            raise _Transient(reason) from None
        raise _Permanent(reason) from None
    except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
        raise _Transient(_describe(exc, job.timeout)) from None


def _write_part(
    job: _Job, source: BinaryIO, *, offset: int, total: int | None, head: bytes = b""
) -> dict:
    """Stream ``head`` then ``source`` into the .part (appending after
    ``offset`` bytes, or from zero) and return hashers over the whole file.

    Raises _Transient when the body ends short of ``total`` or the connection
    fails mid-way; the bytes received so far stay in the .part for a resume.
    """
    hashers = _new_hashers(job.expected)
    if offset:
        _hash_file(job.part, hashers)  # the resumed prefix counts toward the checksum
    received = offset
    rate = _RateFloor(job.min_rate, window=job.timeout)
    with open(job.part, "ab" if offset else "wb") as out, tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=job.dest.name,
        **shown_if(job.progress),
    ) as bar:
        try:
            for chunk in _chunks(source, head):
                out.write(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                rate.check(len(chunk), received)
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{_describe(exc, job.timeout)} after {received} bytes") from None
        finally:
            out.flush()
            # The rename after verification must not expose a file whose
            # bytes are still only in the page cache if the machine dies.
            os.fsync(out.fileno())
    if total is not None and received < total:
        raise _Transient(f"truncated: got {received} of {total} bytes")
    return hashers


# ------------------------------------------------- deadline and rate floor


class _RateFloor:
    """Fails the attempt when fewer than ``min_rate * window`` bytes arrive in a ``window``."""

    def __init__(self, min_rate: float, window: float, clock: Callable[[], float] = time.monotonic):
        self.min_rate, self.window, self.clock = min_rate, window, clock
        self.start, self.bytes = clock(), 0

    def check(self, n: int, received: int) -> None:
        if self.min_rate <= 0:
            return
        self.bytes += n
        elapsed = self.clock() - self.start
        if elapsed < self.window:
            return
        if self.bytes / elapsed < self.min_rate:
            raise _Transient(f"slower than the minimum rate: {self.bytes / elapsed:.0f} B/s over "
                             f"{elapsed:.0f}s, below min_rate {self.min_rate:g} B/s, after {received} bytes")
        self.start, self.bytes = self.clock(), 0


# The connections an attempt opens, so its watchdog can cut them at the deadline.  A socket's
# timeout bounds one read; only closing it from outside bounds a server that answers every read
# with one byte, headers included.
_attempt_sockets: list[socket.socket] = []


class _Watchdog:
    """Shuts down the attempt's sockets ``deadline`` seconds after it starts."""

    def __init__(self, deadline: float | None):
        self.deadline, self.expired = deadline, False
        self._timer: threading.Timer | None = None

    def __enter__(self) -> "_Watchdog":
        _attempt_sockets.clear()
        if self.deadline is not None:
            self._timer = threading.Timer(self.deadline, self._expire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _expire(self) -> None:
        self.expired = True
        for sock in list(_attempt_sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv in the downloading thread
            except OSError:
                pass

    def __exit__(self, *exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
        _attempt_sockets.clear()


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _attempt_sockets.append(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _attempt_sockets.append(self.sock)


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_WatchedHTTPConnection, req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_WatchedHTTPSConnection, req, context=self._context)


# ------------------------------------------------------------- Google Drive


class _FormParser(html.parser.HTMLParser):
    """Collects every <form>'s action and its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((attributes.get("action", ""), {}))
            self._inside = True
        elif (
            tag == "input"
            and self._inside
            and attributes.get("type", "").lower() == "hidden"
            and attributes.get("name")
        ):
            self.forms[-1][1][attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _confirmation_url(page: bytes, url: str) -> str | None:
    """The URL that confirms a Google-Drive-style large-file warning, or None.

    Two generations of the page exist: a form (``id="download-form"``) with
    hidden inputs ``id``, ``export``, ``confirm``, ``uuid``, submitted by GET;
    and an older link carrying ``confirm=<token>`` (plus a cookie, which the
    opener's cookie jar keeps).
    """
    text = page.decode("utf-8", "replace")
    parser = _FormParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # a page too broken to parse is not a confirmation page
        return None
    for action, fields in parser.forms:
        if "confirm" in fields:
            target = urllib.parse.urlsplit(urllib.parse.urljoin(url, action or url))
            return urllib.parse.urlunsplit(
                target._replace(query=urllib.parse.urlencode(fields), fragment="")
            )
    token = re.search(r"[?&;]confirm=([0-9A-Za-z_-]+)", text)
    if token:
        parts = urllib.parse.urlsplit(url)
        query = [
            (key, value)
            for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if key != "confirm"
        ]
        query.append(("confirm", token[1]))
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return None


def _is_gdrive(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host in _GDRIVE_HOSTS


# ------------------------------------------------------------------- helpers


def _user_agent() -> str:
    import ganflow

    return f"ganflow/{getattr(ganflow, '__version__', None) or '0'}"


def _local_path(url: str) -> Path | None:
    """The path a ``file://`` URL or plain path names; None for network URLs."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _Permanent(f"file:// URL on another host is not supported: {url}")
        return Path(urllib.request.url2pathname(parts.path))
    # No scheme, or a Windows drive letter that urlsplit mistakes for one.
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        return Path(url).expanduser()
    return None


def _expected_digests(*, sha256: str | None, md5: str | None) -> dict[str, str]:
    expected = {}
    for algorithm, value, length in (("sha256", sha256, 64), ("md5", md5, 32)):
        if value is None:
            continue
        value = value.strip().lower()
        if not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
            raise ValueError(f"{algorithm} must be {length} hex digits, got {value!r}")
        expected[algorithm] = value
    return expected


def _new_hashers(expected: dict[str, str]) -> dict:
    # usedforsecurity=False: md5 is an integrity check here, and FIPS builds
    # refuse it otherwise.
    return {name: hashlib.new(name, usedforsecurity=False) for name in expected}


def _hash_file(path: Path, hashers: dict) -> None:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            for hasher in hashers.values():
                hasher.update(chunk)


def _mismatch(expected: dict[str, str], hashers: dict) -> str | None:
    for name, want in expected.items():
        got = hashers[name].hexdigest()
        if got != want:
            return f"checksum mismatch: {name} expected {want} got {got}"
    return None


def _chunks(source: BinaryIO, head: bytes) -> Iterator[bytes]:
    if head:
        yield head
    # read1, not read: read(n) blocks until n bytes have arrived, so a trickling server would never
    # let the deadline or the rate floor be checked between reads.
    read = getattr(source, "read1", source.read)
    while chunk := read(CHUNK_SIZE):
        yield chunk


def _read_up_to(source: BinaryIO, limit: int, timeout: float) -> bytes:
    """Read until ``limit`` bytes or end of body (``read(n)`` may return less)."""
    buffer = bytearray()
    try:
        while len(buffer) < limit and (chunk := source.read(limit - len(buffer))):
            buffer += chunk
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(_describe(exc, timeout)) from None
    return bytes(buffer)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.strip().isdigit() else None


def _range_total(content_range: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", content_range or "")
    return int(match[1]) if match else None


def _content_range(response: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """(first byte, full size) of a 206 answer; the size may be unknown."""
    match = re.fullmatch(
        r"bytes\s+(\d+)-\d+/(\d+|\*)", (response.headers.get("Content-Range") or "").strip()
    )
    if match:
        return int(match[1]), None if match[2] == "*" else int(match[2])
    # A 206 without a usable Content-Range: take it as the rest of the file.
    length = _content_length(response)
    return offset, None if length is None else offset + length


def _describe(exc: BaseException, timeout: float) -> str:
    """A short reason for a network-level failure."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"timeout after {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return f"connection error: {reason.strerror}"
    return f"connection error: {reason or type(reason).__name__}"
