"""What a submissions folder holds: every entry either a submission or ignored with a reason.

Every entry is looked at with ``lstat`` (never followed): a link is refused with a finding, never
opened, so a link to /etc/passwd or to the answer key reveals nothing.  Names that differ only in
case or Unicode form (``dup.csv`` / ``dup.CSV``, NFC / NFD) would share one output file on some
systems and one row in a person's mind: both are graded, under their full file names, and each is
flagged for review.  Each submission gets an output file name that is safe whatever its own name
is (length, characters, encoding): a readable slug, plus a hash of the name when the slug differs
or is shortened.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ganflow.errors import GradingError
from ganflow.report.submission import ERROR, REVIEW, Finding

NOT_SUBMISSIONS = {"readme.md", "readme.txt", "readme"}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
MAX_OUT_STEM = 100   # far below 255 bytes, leaving room for atomic temp names around it


@dataclass(frozen=True)
class Entry:
    """One submission: ``name`` as shown on the leaderboard, ``out`` the stem of its output files."""
    name: str
    path: Path
    out: str
    findings: tuple[Finding, ...] = ()   # found before reading (a link, not a file, a name collision)
    checkpoint: Path | None = None       # <stem>.pt beside it: a generator to verify it with (report/verify.py)


@dataclass(frozen=True)
class Ignored:
    name: str
    reason: str


@dataclass
class Folder:
    entries: list[Entry] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


def display_name(name: str) -> str:
    """A file name as text that any output can hold: undecodable bytes and control characters escaped."""
    if name.isprintable():
        try:
            name.encode("utf-8")
            return name
        except UnicodeEncodeError:  # os.listdir's surrogate escapes of non-UTF-8 bytes
            pass
    return ascii(name)[1:-1]


def collision_key(name: str) -> str:
    """Names that a case-insensitive or normalising file system (or a person) would take for one."""
    return unicodedata.normalize("NFKC", name).casefold()


def out_stem(name: str) -> str:
    """A file-system-safe stem for ``name``'s output files: the name itself when it is short, plain
    ASCII and unambiguous; otherwise a slug of it plus the first 12 hex digits of its sha256."""
    if SAFE_NAME.fullmatch(name) and len(name) <= MAX_OUT_STEM:
        return name
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "_", display_name(name)).strip("._")[:MAX_OUT_STEM - 13] or "submission"
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{slug}-{digest}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def scan(folder: Path | str) -> Folder:
    """Every entry of ``folder``: a submission (``*.csv`` in any case) or ignored, with the reason."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"grade: submissions folder {folder} not found (params grading.submissions_dir)")
    out = Folder()
    candidates: list[tuple[str, Path, list[Finding]]] = []
    names = sorted(os.listdir(folder))
    csv_stems = {n[:-4] for n in names if n.lower().endswith(".csv")}
    checkpoints = {n[:-3]: folder / n for n in names if n.endswith(".pt") and n[:-3] in csv_stems}
    for name in names:
        shown, path = display_name(name), folder / name
        try:
            st = os.lstat(path)
        except OSError as e:
            out.ignored.append(Ignored(shown, f"cannot be looked at: {e.strerror}"))
            continue
        is_csv = name.lower().endswith(".csv") and len(name) > 4
        if name.startswith("."):
            out.ignored.append(Ignored(shown, "hidden (the name starts with '.'); rename it to grade it"))
        elif name.lower() in NOT_SUBMISSIONS:
            out.ignored.append(Ignored(shown, "a README, not a submission"))
        elif name.endswith(".pt") and name[:-3] in checkpoints:
            continue  # verified with its CSV
        elif name.endswith(".pt"):
            out.ignored.append(Ignored(shown, "a checkpoint with no .csv of the same name beside it"))
        elif not is_csv:
            out.ignored.append(Ignored(shown, "not a .csv file"))
        elif stat.S_ISLNK(st.st_mode):
            candidates.append((name, path, [Finding("symlink_refused", ERROR, "file",
                                                    "a symbolic link: links are never followed (nor their target "
                                                    "named); hand in the file itself")]))
        elif not stat.S_ISREG(st.st_mode):
            candidates.append((name, path, [Finding("not_a_file", ERROR, "file", f"{_kind(st.st_mode)}, not a file")]))
        else:
            candidates.append((name, path, []))

    groups: dict[str, list[str]] = {}
    for name, _, _ in candidates:
        groups.setdefault(collision_key(name[:-4]), []).append(name)
    used: set[str] = set()
    for name, path, found in candidates:
        twins = groups[collision_key(name[:-4])]
        shown = display_name(name if len(twins) > 1 else name[:-4])
        if len(twins) > 1:
            others = [display_name(t) for t in twins if t != name]
            found = found + [Finding("name_collision", REVIEW, "file",
                                     f"its name differs from {', '.join(others)} only in case or Unicode form: "
                                     "both are graded; which one is the student's hand-in?",
                                     {"same_name_as": others})]
        stem = out_stem(name if len(twins) > 1 else name[:-4])
        if collision_key(stem) in used:  # e.g. "a b.csv" and "a_b.csv" slug alike: tell them apart by hash
            stem = out_stem("\0" + name)
        used.add(collision_key(stem))
        out.entries.append(Entry(shown, path, stem, tuple(found), checkpoints.get(name[:-4])))
    return out
