"""The dataset source registry: one small entry per source, looked up by the name in params.yaml.

Each module of this package registers its sources; adding one is a new module, nothing else.
A source knows how to bring its data into ``data/raw/<dataset>/`` (``fetch``) and how to turn
those raw files into aligned, split images under ``data/pairs/<dataset>/`` (``pair``).  Adding a
source is one entry here (or one module that calls ``register_source``); nothing else changes.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ganflow.data.images import list_images, load_image


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
    # Optional source-specific pairing: (dataset_params, raw_dir, out_dir) -> writes manifest.csv and
    # dataset.json by the data/pairs contract. None: the generic code of the source's layout does it.
    pair: Callable[..., None] | None = None


SOURCES: dict[str, Source] = {}


def register_source(source: Source) -> Source:
    if source.name in SOURCES:
        raise ValueError(f"dataset source {source.name!r} registered twice")
    SOURCES[source.name] = source
    return source


def load_all() -> None:
    """Import every module of this package so that each registers its sources."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def get_source(name: str) -> Source:
    load_all()
    if name not in SOURCES:
        raise SystemExit(f"unknown dataset source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name]


def read_single_images(raw_dir: Path) -> list[tuple[str, np.ndarray]]:
    """(id, image) for every image under raw_dir/images, reading each one (errors name the file)."""
    return [(p.stem, load_image(p)) for p in list_images(raw_dir / "images")]
