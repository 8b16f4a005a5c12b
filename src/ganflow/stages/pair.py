"""pair: raw files -> checked, cropped, resized images of one layout, split, plus manifest.csv.

The source lists its raw files as rows of its layout (single, paired, unpaired, labelled,
captioned, attributes; see data/layouts.py for the output contract); data/layouts.py reads
every image once, so a corrupt or unreadable file, a missing partner or partners of different
sizes stop the pipeline here, all listed in one message (or, with ``options.on_bad: skip``,
are left out and listed in skipped.csv).  Sets without a split of their own get the seeded
train/test rule of data/split.py.

``workers`` processes (the CLI's ``--workers``: default the threads Snakemake gives the job, else
every core) read and write the images; the output is the same, byte for byte, for any number.
"""
from __future__ import annotations

from ganflow.atomic import atomic_dir
from ganflow.data import layouts
from ganflow.data.images import pixel_limit
from ganflow.data.sources import SplitSpec, get_source
from ganflow.errors import DataError, MissingInputError
from ganflow.params import Params
from ganflow.stages import paths


def run(params: Params, dataset: str, workers: int | None = None) -> None:
    with pixel_limit(params.dataset(dataset).max_image_pixels):
        _pair(params, dataset, workers)


def _pair(params: Params, dataset: str, workers: int | None) -> None:
    ds = params.dataset(dataset)
    source = get_source(ds.source)
    options = source.parse_options(dataset, ds.options)
    if source.pair is not None:
        with atomic_dir(paths.pairs_dir(dataset)) as tmp:
            source.pair(ds, paths.raw_dir(dataset), tmp)
        print(f"pair: {dataset} ({source.name}) -> {paths.pairs_dir(dataset)}")
        return
    raw = paths.raw_dir(dataset)
    if not raw.is_dir():
        raise MissingInputError(f"pair: {raw} does not exist; run `ganflow fetch --dataset {dataset}` first")
    split = SplitSpec(ds.test_fraction, ds.split_seed)
    try:
        table = source.table(options, raw, split) if source.table else layouts.image_folder_table(raw / "images")
    except layouts.LayoutError as e:
        raise DataError(f"pair: {e}") from None
    if table.layout != source.layout:
        raise DataError(f"source {source.name!r} declares layout {source.layout!r} but listed {table.layout!r}")
    with atomic_dir(paths.pairs_dir(dataset)) as tmp:
        meta = layouts.write(table, tmp, dataset=dataset, source=source.name, image_size=ds.image_size,
                             test_fraction=ds.test_fraction, split_seed=ds.split_seed, on_bad=options.on_bad,
                             max_images=options.max_images, workers=workers)
    counts = ", ".join(f"{k[2:]} {v}" for k, v in meta.items() if k.startswith("n_") and k != "n_available")
    print(f"pair: {dataset}: {source.layout} layout, {counts}, at {ds.image_size}px -> {paths.pairs_dir(dataset)}")
