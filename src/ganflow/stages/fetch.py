"""fetch: bring a data set's raw files into data/raw/<dataset>/ (download or embedded copy)."""
from __future__ import annotations

import platform

from ganflow import __version__
from ganflow.atomic import atomic_dir, write_json
from ganflow.data.sources import get_source
from ganflow.params import Params
from ganflow.stages import paths


def run(params: Params, dataset: str) -> None:
    ds = params.dataset(dataset)
    source = get_source(ds.source)
    target = paths.raw_dir(dataset)
    with atomic_dir(target) as tmp:
        source.fetch(dict(ds.options), tmp)
        write_json(tmp / "source.json", {
            "dataset": dataset, "source": source.name, "description": source.description,
            "licence": source.licence, "urls": list(source.urls), "options": ds.options,
            "ganflow": __version__, "python": platform.python_version(),
        })
    print(f"fetch: {dataset} ({source.name}) -> {target}")
