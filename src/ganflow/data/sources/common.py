"""What the downloading and local-folder sources share: option schemas and fetch helpers.

Every byte a source brings goes through :func:`ganflow.data.download.download` (mirrors in
order, bounded retries, resume, checksum checked before the file takes its final name) into a
download cache (``data/downloads/<source>/``, kept so a rerun or an interrupted download does
not start over), and every archive through :func:`ganflow.data.extract.safe_extract`.  Errors
become one GanflowError sentence naming the file, the URLs tried or the option to fix.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, StringConstraints
from tqdm import tqdm

from ganflow.data.download import download, gdrive_url
from ganflow.data.extract import UnsafeArchiveError, safe_extract
from ganflow.data.sources import CommonOptions
from ganflow.errors import ArchiveError, DataError, DownloadError, ParamsError
from ganflow.hashing import sha256_file

# Defaults a person would pick for the registered sets: CelebA (1.4 GB, 202,599 files) and the
# CycleGAN / flowers archives expand to well under 4 GiB.  A source that knows its archive's size
# (the pix2pix sets, up to edges2handbags' 8.6 GB) allows twice that instead, so a bomb posing as
# facades (30 MB) stops at 60 MB, not at the size of the largest set.
DEFAULT_MAX_EXTRACT_BYTES = 4 * 2**30
DEFAULT_MAX_MEMBERS = 500_000
DEFAULT_DEADLINE = 6 * 3600.0   # one attempt: CelebA's 1.4 GB at a poor 100 kB/s still fits
DEFAULT_MIN_RATE = 1024.0       # bytes/s; below that a download would take days

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
Direction = Annotated[str, StringConstraints(pattern=r"^(AtoB|BtoA)$")]


class DownloadOptions(CommonOptions):
    # Base URLs (or local folders) that replace the built-in mirrors, tried in order; the file
    # name is appended.  For a lab-local copy, or a server on 127.0.0.1 in the tests.
    mirrors: list[str] | None = Field(None, min_length=1)
    retries: NonNegativeInt = 3          # extra attempts per URL for transient failures
    timeout: PositiveFloat = 60.0        # seconds, per connect / read; also the min_rate window
    # A server that trickles bytes never trips the per-read timeout: each attempt also ends past
    # its deadline, or when a timeout-long window averages under min_rate (curl's --speed-limit).
    deadline: PositiveFloat = DEFAULT_DEADLINE
    min_rate: NonNegativeFloat = DEFAULT_MIN_RATE


class ArchiveOptions(DownloadOptions):
    # Refuse archives that would expand past this many bytes or members (bombs, a wrong file).
    max_extract_bytes: PositiveInt | None = None   # None: twice the archive's known size, else 4 GiB
    max_members: PositiveInt = DEFAULT_MAX_MEMBERS


@dataclass(frozen=True)
class RemoteFile:
    """One file of a source: its name on the mirrors, its pinned checksum, its Drive id."""
    name: str
    md5: str | None = None
    sha256: str | None = None
    gdrive: str | None = None            # Google Drive file id: the URL used when no mirrors are given


def fetch_remote(f: RemoteFile, mirrors: list[str], options: DownloadOptions, cache: Path) -> tuple[Path, dict]:
    """Download ``f`` into ``cache`` (verified) and return (path, record for source.json)."""
    if options.mirrors:
        bases = options.mirrors
    elif f.gdrive:
        bases = []
    else:
        bases = mirrors
    urls = [_join(base, f.name) for base in bases]
    if f.gdrive and not options.mirrors:
        urls.append(gdrive_url(f.gdrive))
    try:
        path = download(urls, cache / f.name, md5=f.md5, sha256=f.sha256, **transfer_limits(options))
    except DownloadError as e:
        pinned = " (checksum pinned by ganflow)" if f.md5 or f.sha256 else ""
        # The manual way round a blocked download (no internet, Drive quota): download() takes a
        # file already at its destination when the checksum matches, without any network.
        where = (cache / f.name).resolve()
        check = f"; its {'md5' if f.md5 else 'sha256'} must be {f.md5 or f.sha256}" if f.md5 or f.sha256 else ""
        raise DownloadError(f"fetch: {e}{pinned}\nTo fetch it by hand: download {f.name} yourself (from "
                         f"{urls[0] if urls else 'the source page'}) and put it at {where}{check}; "
                         "then rerun the same command (it uses the file without downloading)") from None
    return path, file_record(path, urls=urls, md5=f.md5, sha256_pinned=f.sha256)


def transfer_limits(options) -> dict:
    """download()'s retry and time limits from a source's options."""
    return {"retries": options.retries, "timeout": options.timeout, "deadline": options.deadline,
            "min_rate": options.min_rate}


def _join(base: str, name: str) -> str:
    return base if base.endswith(name) else base.rstrip("/") + "/" + name


def file_record(path: Path, **extra) -> dict:
    """name, bytes, sha256 (computed) plus what is known about where it came from."""
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path),
            **{k: v for k, v in extra.items() if v is not None}}


def extract_limit(options: ArchiveOptions, known_bytes: int | None = None) -> int:
    """max_extract_bytes when set; else twice the archive's known expanded size; else the default."""
    if options.max_extract_bytes is not None:
        return options.max_extract_bytes
    return 2 * known_bytes if known_bytes else DEFAULT_MAX_EXTRACT_BYTES


def extract(archive: Path, target: Path, options: ArchiveOptions, known_bytes: int | None = None) -> None:
    """safe_extract with the source's limits; a refused or corrupt archive is an ArchiveError."""
    try:
        safe_extract(archive, target, max_bytes=extract_limit(options, known_bytes),
                     max_members=options.max_members)
    except UnsafeArchiveError as e:
        raise ArchiveError(f"fetch: {e}") from None
    except (ValueError, tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise ArchiveError(f"fetch: cannot extract {archive}: {e.__class__.__name__}: {e} "
                         f"(delete it to download again)") from None


def place(src: Path, dst: Path) -> None:
    """Put a cached file into the raw folder: a hard link when possible (no second copy), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    src = src.resolve()  # a link (inside the folder: see _visible_files) is placed as its target's file
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def tree_sha256(folder: Path) -> str:
    """One checksum for a folder: sha256 over the sorted lines "<relative path>\\0<file sha256>\\n".

    Hidden files are left out (``.DS_Store`` and the like must not change a data set's identity).
    """
    digest = hashlib.sha256()
    for p in _visible_files(folder):
        digest.update(f"{p.relative_to(folder).as_posix()}\0{sha256_file(p)}\n".encode())
    return digest.hexdigest()


def _visible_files(folder: Path) -> list[Path]:
    """The regular files under ``folder``, hidden ones left out, in sorted order.

    Symbolic links are followed only to a regular file inside ``folder`` itself (a data set that
    links duplicates stays usable); a link that leads outside it, to a folder, or nowhere, and
    anything that is not a regular file (a FIFO, a device), is refused with every such path named:
    copying it would put a file from elsewhere on the machine into data/raw/.
    """
    folder = Path(folder)
    root = folder.resolve()
    found, refused = [], []
    for here, dirs, files in os.walk(folder, followlinks=False):
        base = Path(here)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in [d for d in dirs if (base / d).is_symlink()]:
            refused.append(f"{base / name} -> {os.readlink(base / name)} (a link to a folder)")
            dirs.remove(name)
        for name in files:
            path = base / name
            if any(part.startswith(".") for part in path.relative_to(folder).parts):
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    refused.append(f"{path} -> {os.readlink(path)} (outside {folder})")
                    continue
                if not target.is_file():
                    refused.append(f"{path} -> {os.readlink(path)} (not a regular file)")
                    continue
            elif not stat.S_ISREG(path.lstat().st_mode):
                refused.append(f"{path} (not a regular file)")
                continue
            found.append(path)
    if refused:
        more = f"\n  ... and {len(refused) - 10} more" if len(refused) > 10 else ""
        raise DataError(f"fetch: {folder}: {len(refused)} path(s) refused (links are followed only to files "
                        "inside the folder):\n  " + "\n  ".join(refused[:10]) + more)
    return sorted(found)


def copy_tree(src: Path, dst: Path) -> int:
    """Copy the visible files of ``src`` into ``dst`` (hard links when possible); return bytes."""
    files = _visible_files(src)
    total = 0
    for p in tqdm(files, desc=f"copy {src.name}", unit="file"):
        place(p, dst / p.relative_to(src))
        total += p.stat().st_size
    return total


def user_input(location: str, sha256: str | None, key: str, sha_key: str, cache: Path, target: Path,
               options: ArchiveOptions) -> dict:
    """Bring a user-supplied folder, archive file or archive URL into ``target``.

    Archives must be pinned by a sha256 (the user's word for which file is meant); a folder is
    checked against its :func:`tree_sha256` when one is given.  ``key`` and ``sha_key`` are the
    names of the two options, for messages.
    """
    folder = Path(location).expanduser()
    if folder.is_dir():
        got = tree_sha256(folder)
        if sha256 and got != sha256.lower():
            raise DataError(f"fetch: {options.key(key)} = {location}: the folder's tree sha256 is {got}, "
                             f"but {options.key(sha_key)} says {sha256} (files changed?)")
        n = copy_tree(folder, target)
        return {"file": folder.name, "location": str(location), "kind": "folder", "bytes": n, "tree_sha256": got}
    is_url = "://" in location
    if not is_url and not folder.is_file():
        raise ParamsError(f"fetch: {options.key(key)} = {location}: no such file or folder "
                         f"(relative paths are taken from the project root)")
    if sha256 is None:
        hint = "" if is_url else f"; {location} has sha256 {sha256_file(folder)}, put that there if it is the file you mean"
        raise ParamsError(f"fetch: {options.key(sha_key)} is required with an archive ({options.key(key)}){hint}")
    if not is_url:  # a local archive is checked and extracted where it is, not copied first
        got = sha256_file(folder)
        if got != sha256.lower():
            raise DataError(f"fetch: {options.key(key)} = {location}: sha256 is {got}, but "
                             f"{options.key(sha_key)} says {sha256} (another version of the file?)")
        extract(folder, target, options)
        return file_record(folder, location=str(location), kind="archive")
    # Keyed by checksum: two archives behind URLs with the same last part (Drive's "uc") never mix.
    name = f"{sha256.lower()[:16]}-{Path(location.split('?')[0]).name or 'archive'}"
    try:
        path = download([location], cache / name, sha256=sha256, **transfer_limits(options))
    except DownloadError as e:
        raise DownloadError(f"fetch: {options.key(key)}: {e}") from None
    extract(path, target, options)
    return file_record(path, url=location, kind="archive")
