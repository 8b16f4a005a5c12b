"""The CycleGAN authors' unpaired sets: one .zip each with trainA/, trainB/, testA/, testB/.

    datasets:
      horse2zebra:
        source: cyclegan
        image_size: 256
        options: {set: horse2zebra}

Images are 256 x 256 JPEGs; a few are grayscale (horse2zebra has some), so every image is
converted to RGB, as the authors' loader does.  No upstream checksums: pin with
``options.sha256`` (the value fetch records in data/raw/<dataset>/source.json).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from ganflow.data import layouts
from ganflow.data.sources import Source, SplitSpec, register_source
from ganflow.data.sources.common import ArchiveOptions, RemoteFile, Sha256, extract, fetch_remote
from ganflow.errors import DataError

# The authors' current host first, then the older one their download script still names.
MIRRORS = ("https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/",
           "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/")

# name -> approximate zip size (the authors' listing; not pinned)
SETS = {
    "apple2orange": "~75 MB", "summer2winter_yosemite": "~126 MB", "horse2zebra": "~111 MB",
    "monet2photo": "~291 MB", "cezanne2photo": "~267 MB", "ukiyoe2photo": "~279 MB",
    "vangogh2photo": "~292 MB", "maps": "~1.4 GB", "facades": "~34 MB", "iphone2dslr_flower": "~324 MB",
}


class CycleGANOptions(ArchiveOptions):
    set: Literal["apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
                 "ukiyoe2photo", "vangogh2photo", "maps", "facades", "iphone2dslr_flower"]
    sha256: Sha256 | None = None         # pin the archive (no upstream checksum exists)


def _fetch(options: CycleGANOptions, raw_dir: Path, downloads: Path) -> list[dict]:
    archive, record = fetch_remote(RemoteFile(f"{options.set}.zip", sha256=options.sha256), list(MIRRORS),
                                   options, downloads / "cyclegan")
    extract(archive, raw_dir / "data", options)
    if not (raw_dir / "data" / options.set / "trainA").is_dir():
        raise DataError(f"fetch: {archive} does not have the CycleGAN layout {options.set}/trainA/, trainB/, "
                         f"testA/, testB/")
    return [record]


def _table(options: CycleGANOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    table = layouts.unpaired_table(raw_dir / "data" / options.set, channels=3)
    table.extra["set"] = options.set
    return table


register_source(Source(
    name="cyclegan",
    description="CycleGAN unpaired sets (trainA/trainB/testA/testB): " + ", ".join(SETS),
    offline=False,
    size="; ".join(f"{k} {v}" for k, v in SETS.items()),
    licence="research use; images from ImageNet, Flickr and WikiArt keep their owners' rights",
    fetch=_fetch,
    layout="unpaired",
    urls=MIRRORS,
    options=CycleGANOptions,
    table=_table,
))
