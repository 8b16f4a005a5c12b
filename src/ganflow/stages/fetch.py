"""fetch: bring a data set's raw files into data/raw/<dataset>/ (download or embedded copy).

The source validates ``datasets.<dataset>.options``, then writes into a temporary folder that
replaces data/raw/<dataset>/ only when complete.  Downloads go through data/downloads/<source>/
first (a cache that survives a failed run, so an interrupted download resumes and a rerun does
not download again; delete it to reclaim the space).  data/raw/<dataset>/source.json records
what was fetched: options, and for each file its URL(s), size and sha256.
"""
from __future__ import annotations

import platform

from ganflow import __version__
from ganflow.atomic import atomic_dir, write_json, write_text
from ganflow.data.sources import get_source
from ganflow.params import Params
from ganflow.stages import paths

DOWNLOADS = paths.DATA / "downloads"


def run(params: Params, dataset: str) -> None:
    ds = params.dataset(dataset)
    source = get_source(ds.source)
    options = source.parse_options(dataset, ds.options)
    target = paths.raw_dir(dataset)
    with atomic_dir(target) as tmp:
        try:
            files = source.fetch(options, tmp, DOWNLOADS)
        finally:  # a cache made by this run (even a failed one) must not show up in `git status`
            if DOWNLOADS.is_dir() and not (DOWNLOADS / ".gitignore").exists():
                write_text(DOWNLOADS / ".gitignore", "# ganflow's download cache: not versioned (data/raw/ is)\n*\n")
        record = {
            "dataset": dataset, "source": source.name, "description": source.description,
            "licence": source.licence, "urls": list(source.urls), "options": ds.options,
            "ganflow": __version__, "python": platform.python_version(),
        }
        if files:
            record["files"] = files
        write_json(tmp / "source.json", record)
    print(f"fetch: {dataset} ({source.name}) -> {target}")
