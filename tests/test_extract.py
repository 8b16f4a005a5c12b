"""safe_extract(): formats, refusals before writing, all-or-nothing replacement."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

import pytest

from ganflow.data import extract as extract_module
from ganflow.data.extract import UnsafeArchiveError, safe_extract

FILES = {
    "a.txt": b"alpha\n",
    "sub/b.bin": bytes(range(256)) * 40,
    "sub/deeper/c.csv": b"x,y\n1,2\n",
}


def _tar(path, members, mode="w:gz"):
    """Write a tar from (TarInfo, data-or-None) pairs, names taken verbatim."""
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 1_600_000_000
    return info, data


def _special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _good_tar(path, mode="w:gz"):
    directory = tarfile.TarInfo("./sub")
    directory.type = tarfile.DIRTYPE
    members = [(directory, None)] + [_file(f"./{name}", data) for name, data in FILES.items()]
    return _tar(path, members, mode)


def _zip(path, members):
    """Write a zip from (ZipInfo-or-name, data) pairs, names taken verbatim."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def _assert_nothing_left(tmp_path, archive, target):
    """No target and no temporary sibling: only the archive itself remains."""
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


def _tree(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    "name, mode",
    [("d.tar.gz", "w:gz"), ("d.tgz", "w:gz"), ("d.tar", "w"), ("d.tar.bz2", "w:bz2"),
     ("d.tar.xz", "w:xz"), ("no-extension", "w:gz")],
)
def test_tar_formats_extract(tmp_path, name, mode):
    archive = _good_tar(tmp_path / name, mode)
    target = tmp_path / "out"
    written = safe_extract(archive, target, progress=False)
    assert _tree(target) == FILES
    assert written == [target / name for name in FILES]
    assert os.path.getmtime(target / "a.txt") == 1_600_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "out"])


def test_zip_extracts(tmp_path):
    archive = _zip(tmp_path / "d.zip", [("sub/", b"")] + list(FILES.items()))
    target = tmp_path / "nested" / "out"  # parents are created
    written = safe_extract(archive, target, progress=False)
    assert _tree(target) == FILES
    assert written == [target / name for name in FILES]


def test_executable_bit_kept_and_nothing_else(tmp_path):
    archive = _tar(tmp_path / "d.tar", [_file("run.sh", b"#!/bin/sh\n", 0o4755), _file("data", b"1", 0o666)], "w")
    target = tmp_path / "out"
    safe_extract(archive, target, progress=False)
    assert os.access(target / "run.sh", os.X_OK)
    assert not (target / "run.sh").stat().st_mode & stat.S_ISUID
    assert not os.access(target / "data", os.X_OK)


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        safe_extract(junk, tmp_path / "out", progress=False)
    _assert_nothing_left(tmp_path, junk, tmp_path / "out")


# ----------------------------------------------------------------- refusals

TAR_ATTACKS = {
    "parent": (lambda: [_file("ok.txt", b"fine"), _file("../evil", b"x")], "../evil", "'..'"),
    "nested-parent": (lambda: [_file("a/../../evil", b"x")], "a/../../evil", "'..'"),
    "absolute": (lambda: [_file("/abs/path", b"x")], "/abs/path", "absolute path"),
    "symlink": (
        lambda: [_special("passwd", tarfile.SYMTYPE, "/etc/passwd")], "passwd", "symbolic link to '/etc/passwd'",
    ),
    "inner-symlink": (lambda: [_special("link", tarfile.SYMTYPE, "a.txt")], "link", "symbolic link"),
    "hardlink": (lambda: [_special("hard", tarfile.LNKTYPE, "/etc/shadow")], "hard", "hard link"),
    "char-device": (lambda: [_special("dev/null", tarfile.CHRTYPE)], "dev/null", "character device"),
    "block-device": (lambda: [_special("sda", tarfile.BLKTYPE)], "sda", "block device"),
    "fifo": (lambda: [_special("pipe", tarfile.FIFOTYPE)], "pipe", "FIFO"),
}


@pytest.mark.parametrize("attack", TAR_ATTACKS)
def test_tar_attacks_refused_leaving_nothing(tmp_path, attack):
    build, member, reason = TAR_ATTACKS[attack]
    archive = _tar(tmp_path / "evil.tar.gz", build())
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, target, progress=False)
    assert info.value.member == member
    assert str(archive) in str(info.value) and repr(member) in str(info.value)
    assert reason in str(info.value)
    assert isinstance(info.value, ValueError)
    _assert_nothing_left(tmp_path, archive, target)
    assert not (tmp_path.parent / "evil").exists()


def _zip_symlink():
    info = zipfile.ZipInfo("passwd")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return [(info, "/etc/passwd")]


ZIP_ATTACKS = {
    "parent": (lambda: [("ok.txt", b"fine"), ("../evil", b"x")], "../evil"),
    "absolute": (lambda: [(zipfile.ZipInfo("/abs/path"), b"x")], "/abs/path"),
    "backslash-parent": (lambda: [("..\\evil", b"x")], "..\\evil"),
    "drive-letter": (lambda: [("C:/evil", b"x")], "C:/evil"),
    "symlink": (_zip_symlink, "passwd"),
}


@pytest.mark.parametrize("attack", ZIP_ATTACKS)
def test_zip_attacks_refused_leaving_nothing(tmp_path, attack):
    build, member = ZIP_ATTACKS[attack]
    archive = _zip(tmp_path / "evil.zip", build())
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, target, progress=False)
    assert info.value.member == member
    _assert_nothing_left(tmp_path, archive, target)


@pytest.fixture
def no_writing(monkeypatch):
    """Fail the test if extraction gets as far as creating its temporary directory."""

    def forbidden(*args, **kwargs):
        raise AssertionError("safe_extract started writing before refusing the archive")

    monkeypatch.setattr(extract_module.tempfile, "mkdtemp", forbidden)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_too_many_members_refused_before_writing(tmp_path, no_writing, kind):
    members = {f"f{i}.txt": b"x" for i in range(5)}
    if kind == "tar":
        archive = _tar(tmp_path / "many.tar", [_file(n, d) for n, d in members.items()], "w")
    else:
        archive = _zip(tmp_path / "many.zip", list(members.items()))
    with pytest.raises(UnsafeArchiveError, match="more than 3 members") as info:
        safe_extract(archive, tmp_path / "out", max_members=3, progress=False)
    assert info.value.member is None
    _assert_nothing_left(tmp_path, archive, tmp_path / "out")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_too_large_declared_size_refused_before_writing(tmp_path, no_writing, kind):
    members = {"small.txt": b"x" * 100, "big.bin": b"\0" * 5000}  # compresses to almost nothing
    if kind == "tar":
        archive = _tar(tmp_path / "bomb.tar.gz", [_file(n, d) for n, d in members.items()])
    else:
        archive = _zip(tmp_path / "bomb.zip", list(members.items()))
    assert archive.stat().st_size < 1000
    with pytest.raises(UnsafeArchiveError, match="max_bytes=1000") as info:
        safe_extract(archive, tmp_path / "out", max_bytes=1000, progress=False)
    assert info.value.member == "big.bin"
    _assert_nothing_left(tmp_path, archive, tmp_path / "out")


def test_limits_are_inclusive(tmp_path):
    archive = _tar(tmp_path / "d.tar", [_file("a", b"12345"), _file("b", b"67890")], "w")
    safe_extract(archive, tmp_path / "out", max_members=2, max_bytes=10, progress=False)
    assert _tree(tmp_path / "out") == {"a": b"12345", "b": b"67890"}


# ------------------------------------------------------- existing target


def _existing_target(tmp_path):
    target = tmp_path / "out"
    (target / "old").mkdir(parents=True)
    (target / "old" / "keep.txt").write_bytes(b"previous version")
    return target


def test_refused_archive_leaves_existing_target_untouched(tmp_path):
    target = _existing_target(tmp_path)
    archive = _tar(tmp_path / "evil.tar.gz", [_file("fine.txt", b"x"), _file("../evil", b"x")])
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, target, progress=False)
    assert _tree(target) == {"old/keep.txt": b"previous version"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz", "out"]


def test_failure_while_writing_leaves_existing_target_untouched(tmp_path):
    """A corrupt member is only noticed while extracting; the half-written
    temporary tree must vanish and the previous target survive."""
    target = _existing_target(tmp_path)
    archive = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("first.txt", b"fine")
        zf.writestr("second.txt", b"PAYLOAD-" * 100)
    raw = archive.read_bytes()
    at = raw.index(b"PAYLOAD-")
    archive.write_bytes(raw[:at] + b"X" + raw[at + 1 :])  # CRC no longer matches
    with pytest.raises(zipfile.BadZipFile):
        safe_extract(archive, target, progress=False)
    assert _tree(target) == {"old/keep.txt": b"previous version"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.zip", "out"]


def test_success_replaces_existing_target(tmp_path):
    target = _existing_target(tmp_path)
    archive = _good_tar(tmp_path / "d.tar.gz")
    safe_extract(archive, target, progress=False)
    assert _tree(target) == FILES  # the old tree is gone, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tar.gz", "out"]


def test_progress_bar(tmp_path, capsys):
    safe_extract(_good_tar(tmp_path / "d.tar.gz"), tmp_path / "out")
    assert "extract d.tar.gz" in capsys.readouterr().err
