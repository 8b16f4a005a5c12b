"""The pix2pix authors' paired sets: one .tar.gz each, images stored A|B side by side.

    datasets:
      facades:
        source: pix2pix
        image_size: 256
        options: {set: facades}            # direction defaults to the authors' choice (BtoA here)

The archive holds ``<set>/train/*.jpg``, ``<set>/val/*.jpg`` and, for some sets, ``<set>/test``;
``pair`` cuts every image into its halves and keeps the set's splits.  The authors publish no
checksums: pin the archive with ``options.sha256`` (fetch records the sha256 it got in
data/raw/<dataset>/source.json, so a first fetch gives you the value to pin).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ganflow.data import layouts
from ganflow.data.sources import Source, SplitSpec, register_source
from ganflow.data.sources.common import ArchiveOptions, Direction, RemoteFile, Sha256, extract, fetch_remote
from ganflow.errors import DataError

MIRRORS = ("http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/",)


@dataclass(frozen=True)
class Pix2pixSet:
    about: str
    direction: str      # the direction the authors train with: a = input
    size: str           # archive size, approximate (from the authors' listing, not pinned)
    expanded_bytes: int  # about what it extracts to (JPEGs: the archive's size); bounds extraction


SETS = {
    "facades": Pix2pixSet("CMP Facades: building photo (A) | label map (B); 400 train, 100 val, 106 test",
                          "BtoA", "~30 MB", 30_000_000),
    "maps": Pix2pixSet("aerial photo (A) | Google map (B), Manhattan; ~1,100 train, ~1,100 val", "AtoB", "~250 MB", 250_000_000),
    "edges2shoes": Pix2pixSet("HED edges (A) | shoe photo (B), UT Zappos50K; ~50k train, 200 val",
                              "AtoB", "~2 GB", 2_200_000_000),
    "edges2handbags": Pix2pixSet("HED edges (A) | handbag photo (B), iGAN; ~137k train, 200 val",
                                 "AtoB", "~8.6 GB", 8_600_000_000),
    "night2day": Pix2pixSet("night (A) | day (B) webcam pairs, Transient Attributes; ~17k train, val, test",
                            "AtoB", "~1.9 GB", 1_900_000_000),
}


class Pix2pixOptions(ArchiveOptions):
    set: Literal["facades", "maps", "edges2shoes", "edges2handbags", "night2day"]
    direction: Direction | None = None   # AtoB | BtoA; default: the set's usual direction
    sha256: Sha256 | None = None         # pin the archive (no upstream checksum exists)


def _fetch(options: Pix2pixOptions, raw_dir: Path, downloads: Path) -> list[dict]:
    archive, record = fetch_remote(RemoteFile(f"{options.set}.tar.gz", sha256=options.sha256), list(MIRRORS),
                                   options, downloads / "pix2pix")
    extract(archive, raw_dir / "data", options, known_bytes=SETS[options.set].expanded_bytes)
    root = raw_dir / "data" / options.set
    if not root.is_dir() or layouts.split_folders(root) is None:
        raise DataError(f"fetch: {archive} does not have the pix2pix layout {options.set}/train/, "
                         f"{options.set}/val/ (got {sorted(p.name for p in (raw_dir / 'data').iterdir())})")
    return [record]


def _table(options: Pix2pixOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    direction = options.direction or SETS[options.set].direction
    table = layouts.side_by_side_table(raw_dir / "data" / options.set, direction, channels=3)
    table.extra["set"] = options.set
    return table


register_source(Source(
    name="pix2pix",
    description="pix2pix paired sets (A|B side by side): " + ", ".join(SETS),
    offline=False,
    size="; ".join(f"{k} {v.size}" for k, v in SETS.items()),
    licence="research use; each set keeps its original licence (CMP Facades, Google Maps imagery, "
            "UT Zappos50K, iGAN handbags, Transient Attributes): check before redistributing",
    fetch=_fetch,
    layout="paired",
    urls=MIRRORS,
    options=Pix2pixOptions,
    table=_table,
))
