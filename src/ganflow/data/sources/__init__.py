"""The dataset source registry: one small entry per source, looked up by the name in params.yaml.

Each module of this package registers its sources; adding one is a new module, nothing else.
A source knows how to bring its data into ``data/raw/<dataset>/`` (``fetch``) and how to list
those raw files as rows of its layout (``table``), which ``data/layouts.py`` turns into the
resized, split images under ``data/pairs/<dataset>/``.

Per-dataset settings live in ``datasets.<name>.options`` of params.yaml; each source validates
them with its own pydantic model (``options``), so an unknown key or a wrong value is an error
that names ``datasets.<name>.options.<key>``.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, PositiveInt, PrivateAttr, ValidationError
from ganflow.errors import ParamsError


class CommonOptions(BaseModel):
    """Options every source accepts (pair-time settings)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Keep a seeded random subset of this many rows (before any image is read), to cap big sets.
    max_images: PositiveInt | None = None
    # A bad input (unreadable file, partner missing or of another size): stop with one error
    # listing all of them, or leave them out and write data/pairs/<dataset>/skipped.csv.
    on_bad: Literal["error", "skip"] = "error"

    _dataset: str = PrivateAttr("<name>")   # set by Source.parse_options, for messages

    def key(self, name: str = "") -> str:
        """The dotted params key of one option, as messages should name it."""
        return f"datasets.{self._dataset}.options" + (f".{name}" if name else "")


@dataclass(frozen=True)
class SplitSpec:
    """datasets.<name>'s split settings, handed to ``table`` for sources that split in their own way.

    A table that leaves ``split_rule`` None gets the seeded train/test rule from layouts.write.
    """
    test_fraction: float
    seed: int


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    offline: bool               # True: no download (embedded in a package, or the user's own files)
    size: str                   # what fetch brings, for the README
    licence: str
    # (options, raw_dir, downloads_dir) -> writes raw files; may return a list of dicts, one per
    # file it brought (name, url, bytes, sha256...), recorded in raw_dir/source.json.
    fetch: Callable[..., list[dict] | None]
    layout: str = "single"      # single | paired | unpaired | labelled | captioned | attributes
    # An "unpaired" source whose rows also carry a class (manifest label / label_name, dataset.json
    # classes): its data sets get a domain classifier, as labelled ones do.
    labels: bool = False
    urls: tuple[str, ...] = field(default_factory=tuple)   # default mirrors, for the record
    options: type[BaseModel] = CommonOptions                # schema of datasets.<name>.options
    # (options, raw_dir, SplitSpec) -> layouts.Table; None: images under raw_dir/images ("single")
    table: Callable[..., Any] | None = None
    # Escape hatch, taking precedence over ``table``: (dataset_params, raw_dir, out_dir) -> writes
    # manifest.csv and dataset.json by the data/pairs contract itself (no layouts.write checks).
    pair: Callable[..., None] | None = None

    @property
    def labelled(self) -> bool:
        """Its data sets carry a class per image (manifest ``label``, dataset.json ``classes``)."""
        return self.layout in ("labelled", "captioned") or self.labels

    def parse_options(self, dataset: str, raw: dict) -> BaseModel:
        """Validated options, or a ParamsError naming every bad ``datasets.<dataset>.options.<key>``."""
        try:
            options = self.options(**(raw or {}))
            options._dataset = dataset
            return options
        except ValidationError as e:
            lines = []
            for err in e.errors():
                key = ".".join(str(p) for p in err["loc"])
                where = f"datasets.{dataset}.options" + (f".{key}" if key else "")
                msg = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
                lines.append(f"  {where}: {msg}")
            known = ", ".join(self.options.model_fields)
            raise ParamsError(f"source {self.name!r} rejects {len(lines)} option(s):\n" + "\n".join(lines)
                             + f"\n  (options it knows: {known})") from None


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
        raise ParamsError(f"unknown dataset source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name]

