"""The dataset source registry: one small entry per source, looked up by the name in params.yaml.

A source knows how to bring its data into ``data/raw/<dataset>/`` (``fetch``) and how to turn
those raw files into aligned, split images under ``data/pairs/<dataset>/`` (``pair``).  Adding a
source is one entry here (or one module that calls ``register_source``); nothing else changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ganflow.data.images import load_image, list_images, save_image


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    offline: bool               # True: ships inside an installed package, no download
    size: str                   # what fetch brings, for `ganflow list` and the README
    licence: str
    fetch: Callable[[dict, Path], None]   # (options, raw_dir) -> writes raw files
    layout: str = "single"      # single | paired | unpaired | labelled | captioned
    urls: tuple[str, ...] = field(default_factory=tuple)


SOURCES: dict[str, Source] = {}


def register_source(source: Source) -> Source:
    if source.name in SOURCES:
        raise ValueError(f"dataset source {source.name!r} registered twice")
    SOURCES[source.name] = source
    return source


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise SystemExit(f"unknown dataset source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name]


# --- scikit-image's LFW subset: the offline default face set -----------------------------------

def _fetch_lfw_faces(options: dict, raw_dir: Path) -> None:
    """Write the 100 face crops of ``skimage.data.lfw_subset()`` (the first 100 of its 200 images).

    They are aligned 25 x 25 grayscale faces from Labeled Faces in the Wild; the other 100 are
    non-faces and are left out.  Stored as 8-bit PNG, the way a downloaded set would arrive.
    """
    from skimage import data

    faces = data.lfw_subset()[:100]
    images = raw_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(faces):
        save_image(images / f"face_{i:03d}.png", np.clip(face, 0, 1))


register_source(Source(
    name="skimage_lfw_faces",
    description="100 aligned 25x25 grayscale LFW faces shipped with scikit-image",
    offline=True,
    size="100 images, 60 KB",
    licence="LFW: free for research use",
    fetch=_fetch_lfw_faces,
))


def read_single_images(raw_dir: Path) -> list[tuple[str, np.ndarray]]:
    """(id, image) for every image under raw_dir/images, reading each one (errors name the file)."""
    return [(p.stem, load_image(p)) for p in list_images(raw_dir / "images")]
