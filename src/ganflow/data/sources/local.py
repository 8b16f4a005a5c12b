"""The user's own data: a folder, or an archive (a file or a URL, e.g. a Kaggle download).

Each source reads one folder layout; ``datasets.<name>.options`` says where the data is:

    path: my_data/faces          a folder (copied into data/raw/<dataset>/, hard links when possible)
    archive: ~/Downloads/x.zip   or an archive (a path or a URL), extracted safely ...
    sha256: <hex>                ... and checked: required for an archive; for a folder it is the
                                 tree checksum (fetch records it in source.json), checked when given
    subdir: some/inner/folder    where the layout starts inside it (default: skip wrapper folders)
    channels: auto | 1 | 3       convert every image (auto: keep, and all must agree)

plus ``max_images`` and ``on_bad: error | skip`` (every source has them).  Relative paths are
taken from the project root, where ganflow runs.

Layouts:
    homework_folders     Training/Real/*, Training/White/*, Test/White/* (+ Test/Real/*)  -> paired
    paired_folders       A/* and B/* matched by file name (a_dir, b_dir, direction)       -> paired
    side_by_side_folder  A|B images side by side (direction)                              -> paired
    class_folders        <class>/* (labels from sorted folder names)                      -> labelled
    image_folder         any images, recursively                                          -> single
    anime_faces          Kaggle's anime face set, as downloaded (an archive you point to) -> single
Each may be divided into train/ val/ test/ folders (homework: Training/ Test/); otherwise the
seeded train/test rule of datasets.<name>.test_fraction and split_seed applies.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Literal

from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from ganflow.data import layouts
from ganflow.data.sources import CommonOptions, Source, SplitSpec, register_source
from ganflow.data.sources.common import (DEFAULT_DEADLINE, DEFAULT_MAX_MEMBERS,
                                         DEFAULT_MIN_RATE, Direction, Sha256, user_input)
from ganflow.errors import DataError


class LocalOptions(CommonOptions):
    path: str | None = None
    archive: str | None = None
    sha256: Sha256 | None = None
    subdir: str | None = None
    channels: Literal["auto", 1, 3] = "auto"
    retries: NonNegativeInt = 3                  # for an archive URL (see common.DownloadOptions)
    timeout: PositiveFloat = 60.0
    deadline: PositiveFloat = DEFAULT_DEADLINE
    min_rate: NonNegativeFloat = DEFAULT_MIN_RATE
    max_extract_bytes: PositiveInt | None = None
    max_members: PositiveInt = DEFAULT_MAX_MEMBERS

    @model_validator(mode="after")
    def _one_location(self):
        if (self.path is None) == (self.archive is None):
            raise ValueError("give exactly one of path (a folder) or archive (a zip/tar file or URL)")
        if self.archive is not None and self.sha256 is None:
            raise ValueError("sha256 is required with archive (`sha256sum FILE` prints it)")
        return self


class PairedFolderOptions(LocalOptions):
    a_dir: str = "A"
    b_dir: str = "B"
    direction: Direction = "AtoB"


class SideBySideOptions(LocalOptions):
    direction: Direction = "AtoB"


def _fetch(options: LocalOptions, raw_dir: Path, downloads: Path) -> list[dict]:
    location, key = (options.path, "path") if options.path is not None else (options.archive, "archive")
    return [user_input(location, options.sha256, key, "sha256", downloads / "local", raw_dir / "data", options)]


def _root(options: LocalOptions, raw_dir: Path) -> Path:
    data = raw_dir / "data"
    if options.subdir:
        root = data / options.subdir
        if not root.is_dir():
            raise DataError(f"pair: {options.key('subdir')} = {options.subdir}: no such folder in {data}")
        return root
    return layouts.descend(data)


def _channels(options: LocalOptions) -> int | None:
    return None if options.channels == "auto" else int(options.channels)


def _reader(read: Callable[..., layouts.Table]) -> Callable:
    """Wrap a layouts reader: find the root, pass channels, turn LayoutError into a DataError naming the data set."""
    def table(options: LocalOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
        try:
            return read(options, _root(options, raw_dir), _channels(options))
        except layouts.LayoutError as e:
            raise DataError(f"pair: {e}") from None
    return table


def _register(name: str, description: str, layout: str, options: type[LocalOptions], read, size: str = "your data",
              licence: str = "yours: you are responsible for its terms") -> None:
    register_source(Source(name=name, description=description, offline=True, size=size, licence=licence,
                           fetch=_fetch, layout=layout, options=options, table=_reader(read)))


_register("homework_folders", "the course homework layout: Training/Real, Training/White, Test/White",
          "paired", LocalOptions, lambda o, root, ch: layouts.homework_table(root, channels=ch))
_register("paired_folders", "two folders of partner images matched by file name", "paired",
          PairedFolderOptions,
          lambda o, root, ch: layouts.paired_folders_table(root, o.a_dir, o.b_dir, o.direction, channels=ch))
_register("side_by_side_folder", "a folder of A|B side-by-side images", "paired", SideBySideOptions,
          lambda o, root, ch: layouts.side_by_side_table(root, o.direction, channels=ch))
_register("class_folders", "a folder of class sub-folders", "labelled", LocalOptions,
          lambda o, root, ch: layouts.class_folders_table(root, channels=ch))
_register("image_folder", "a folder (or archive) of images, searched recursively", "single", LocalOptions,
          lambda o, root, ch: layouts.image_folder_table(root, channels=ch))
_register("anime_faces", "Kaggle's anime face dataset (log in, download the zip, point options.archive at it)",
          "single", LocalOptions, lambda o, root, ch: layouts.image_folder_table(root, channels=ch),
          size="~400 MB zip, 63,632 colour faces of varying size (Kaggle 'splcher/animefacedataset')",
          licence="Kaggle dataset page's terms (images scraped from getchu.com): research and personal use")
