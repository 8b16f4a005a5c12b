"""Extract zip and tar archives without trusting them.

:func:`safe_extract` reads the whole member list first and refuses the archive
(:class:`UnsafeArchiveError`) before writing a single byte if any member

* has an absolute path (``/x``, ``\\x``, ``C:x``) or any ``..`` component
  (even one that would stay inside the target: only crafted archives have
  them, and refusing them all leaves nothing to get wrong);
* is a symbolic or hard link -- *any* link, wherever it points.  Data sets do
  not need links, and checking link targets correctly (links to links, a later
  member written *through* an earlier link) is exactly where extractors have
  historically gone wrong;
* is a device, FIFO or anything else that is neither a regular file nor a
  directory;

or if the archive has more than ``max_members`` members or declares more than
``max_bytes`` of uncompressed data in total (zip bombs).

Members are then written by this module (not ``TarFile.extractall``), as plain
files and directories: no owners, no setuid bits, only the executable bit is
kept.  Everything goes into a temporary sibling directory that is renamed to
the target only once every member is written, so an error of any kind leaves
neither a partial target nor a damaged previous one.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from tqdm import tqdm

from ganflow.bars import shown_if
from ganflow.errors import ArchiveError

__all__ = ["UnsafeArchiveError", "safe_extract"]

CHUNK_SIZE = 1 << 20


class UnsafeArchiveError(ArchiveError, ValueError):
    """The archive (or one of its members) is refused; nothing was extracted.

    ``archive`` is the archive's path, ``member`` the offending member name
    (None when the refusal is about the archive as a whole), ``reason`` why.
    """

    def __init__(self, archive: Path, reason: str, member: str | None = None):
        self.archive = Path(archive)
        self.member = member
        self.reason = reason
        where = "" if member is None else f"member {member!r}: "
        super().__init__(f"refusing to extract {self.archive}: {where}{reason}")


@dataclass(frozen=True)
class _Member:
    """One archive entry, as the checks and the writer see it."""

    name: str  # the name as stored in the archive (for messages)
    kind: str  # "file", "dir", or what makes it refused ("symbolic link to ...")
    size: int  # declared uncompressed size
    executable: bool
    mtime: float | None
    handle: object  # the TarInfo / ZipInfo to read the data with


def safe_extract(
    archive: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    max_bytes: int = 20 * 2**30,
    max_members: int = 2_000_000,
    progress: bool = True,
) -> list[Path]:
    """Extract ``archive`` into the directory ``target``, safely and all-or-nothing.

    Formats: .zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, recognised by content
    (the file name does not matter).  An existing ``target`` is replaced only
    after the new tree is complete: the old one is renamed away, the new one
    renamed in, then the old one deleted.

    Returns the regular files written, as paths under ``target``, in archive
    order (a name stored twice is listed once; its last copy wins on disk).

    Raises :class:`UnsafeArchiveError` for a refused archive (see the module
    docstring), ``ValueError`` for a file that is neither zip nor tar, and
    whatever reading a corrupt archive raises (``tarfile.TarError``,
    ``zipfile.BadZipFile``, ``EOFError``...).  In every failure case ``target``
    is left as it was and no temporary directory remains.

    Cost: a compressed tar is decompressed twice (once to list and check the
    members, once to extract), the price of checking before writing.
    """
    archive = Path(archive)
    target = Path(target)
    with _open_archive(archive) as (entries, read):
        members = _checked(archive, entries, max_bytes=max_bytes, max_members=max_members)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
        try:
            written = _write(archive, members, read, tmp, progress=progress)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    _move_into_place(tmp, target)
    return [target / relative for relative in written]


# ---------------------------------------------------------------- formats


@contextmanager
def _open_archive(
    archive: Path,
) -> Iterator[tuple[Iterable[_Member], Callable[[_Member], IO[bytes]]]]:
    """Yield (members, open-member-data) for a tar or zip file.

    Tar is tried first: a tar whose last member is a zip file can look like a
    zip (the zip directory sits near the end), never the other way round.
    """
    if not archive.is_file():
        raise FileNotFoundError(f"no such archive: {archive}")
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tar:
            yield _tar_members(tar), lambda member: tar.extractfile(member.handle)
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            yield _zip_members(zf), lambda member: zf.open(member.handle)
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive")


def _tar_members(tar: tarfile.TarFile) -> Iterator[_Member]:
    # Iterating the TarFile reads headers lazily, so a member count check can
    # stop a huge archive early instead of listing it all.
    for info in tar:
        if info.isreg():
            kind = "file"
        elif info.isdir():
            kind = "dir"
        elif info.issym():
            kind = f"symbolic link to {info.linkname!r}"
        elif info.islnk():
            kind = f"hard link to {info.linkname!r}"
        elif info.ischr():
            kind = "character device"
        elif info.isblk():
            kind = "block device"
        elif info.isfifo():
            kind = "FIFO"
        else:
            kind = f"unsupported member type {info.type!r}"
        yield _Member(
            name=info.name,
            kind=kind,
            size=info.size if kind == "file" else 0,
            executable=bool(info.mode & stat.S_IXUSR),
            mtime=float(info.mtime) if info.mtime else None,
            handle=info,
        )


def _zip_members(zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        mode = info.external_attr >> 16  # Unix mode, 0 for archives made on Windows
        if info.is_dir():
            kind = "dir"
        elif stat.S_ISLNK(mode):
            kind = "symbolic link"
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            kind = f"special file (mode {oct(mode)})"
        else:
            kind = "file"
        try:
            mtime = time.mktime(info.date_time + (0, 0, -1))
        except (OverflowError, ValueError):
            mtime = None
        yield _Member(
            name=info.filename,
            kind=kind,
            size=info.file_size if kind == "file" else 0,
            executable=bool(mode & stat.S_IXUSR),
            mtime=mtime,
            handle=info,
        )


# ----------------------------------------------------------------- checks


def _checked(
    archive: Path, entries: Iterable[_Member], *, max_bytes: int, max_members: int
) -> list[tuple[str, _Member]]:
    """Every member as (safe relative path, member), or UnsafeArchiveError.

    Runs over the whole archive before anything is written.
    """
    checked: list[tuple[str, _Member]] = []
    total = 0
    for count, member in enumerate(entries, start=1):
        if count > max_members:
            raise UnsafeArchiveError(archive, f"more than {max_members} members")
        relative = _relative_path(archive, member.name)
        if member.kind not in ("file", "dir"):
            raise UnsafeArchiveError(
                archive, f"{member.kind}: only regular files and directories are extracted",
                member.name,
            )
        total += member.size
        if total > max_bytes:
            raise UnsafeArchiveError(
                archive, f"declared uncompressed size exceeds max_bytes={max_bytes}", member.name
            )
        if relative:
            checked.append((relative, member))
        elif member.kind == "file":
            raise UnsafeArchiveError(archive, "regular file with an empty path", member.name)
        # else: a directory entry for the archive root ("./"), nothing to create
    return checked


def _relative_path(archive: Path, name: str) -> str:
    """The member's path relative to the target, as '/'-joined parts.

    Backslashes count as separators too: zips made on Windows use them, and
    on Windows they would be separators when written.
    """
    if "\x00" in name:
        raise UnsafeArchiveError(archive, "NUL byte in name", name)
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise UnsafeArchiveError(archive, "absolute path", name)
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(archive, "'..' in path (could escape the target)", name)
    return "/".join(parts)


# ------------------------------------------------------------------ writing


def _write(
    archive: Path,
    members: list[tuple[str, _Member]],
    read: Callable[[_Member], IO[bytes]],
    root: Path,
    *,
    progress: bool,
) -> list[str]:
    """Write checked members under ``root``; return the files' relative paths.

    Safe by construction: paths are relative without '..', and no link is ever
    created, so nothing under ``root`` can lead outside it.
    """
    written: dict[str, None] = {}  # ordered set
    total = sum(member.size for _, member in members)
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"extract {archive.name}",
        **shown_if(progress),
    ) as bar:
        for relative, member in members:
            path = root / relative
            if member.kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            copied = 0
            with read(member) as source, open(path, "wb") as out:
                while chunk := source.read(CHUNK_SIZE):
                    copied += len(chunk)
                    # The size check above trusted the declared sizes; make
                    # sure the data cannot outgrow them.
                    if copied > member.size:
                        raise UnsafeArchiveError(
                            archive, "holds more data than its declared size", member.name
                        )
                    out.write(chunk)
                    bar.update(len(chunk))
            if member.executable:
                mode = path.stat().st_mode
                path.chmod(mode | (mode & 0o444) >> 2)  # x wherever r is set
            if member.mtime is not None:
                os.utime(path, (member.mtime, member.mtime))
            written[relative] = None
    return list(written)


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished tree to ``target``, replacing any previous one.

    Not a single atomic step (POSIX cannot swap directories), but at every
    moment either the old or the new complete tree is at ``target`` except
    between the two renames, and any failure puts the old one back.
    """
    try:
        if not os.path.lexists(target):
            os.rename(tmp, target)
            return
        old = target.with_name(f".old-{target.name}-{secrets.token_hex(4)}")
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    else:
        old.unlink()
