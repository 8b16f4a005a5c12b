"""pair: raw files -> aligned images of the configured size, split train/test, plus manifest.csv.

For single-image sets (faces for inpainting) each image is read, checked, resized and assigned to
a split by the seeded rule of data/split.py.  Every file is opened here, so a corrupt or
unreadable image stops the pipeline at this stage with its path in the message.
"""
from __future__ import annotations

import pandas as pd

from ganflow.atomic import atomic_dir, write_json
from ganflow.data.images import ImageError, resize, save_image
from ganflow.data.sources import get_source, read_single_images
from ganflow.data.split import seeded_split, split_rule
from ganflow.params import Params
from ganflow.stages import paths


def run(params: Params, dataset: str) -> None:
    ds = params.dataset(dataset)
    source = get_source(ds.source)
    if source.pair is not None:
        with atomic_dir(paths.pairs_dir(dataset)) as tmp:
            source.pair(ds, paths.raw_dir(dataset), tmp)
        print(f"pair: {dataset} ({source.name}) -> {paths.pairs_dir(dataset)}")
        return
    if source.layout != "single":
        raise SystemExit(f"pair: layout {source.layout!r} of source {source.name!r} is not supported yet")
    try:
        images = read_single_images(paths.raw_dir(dataset))
    except ImageError as e:
        raise SystemExit(f"pair: {e}") from None
    if len(images) < 2:
        raise SystemExit(f"pair: {paths.raw_dir(dataset)} holds {len(images)} image(s); need at least 2")
    channels = {1 if im.ndim == 2 else 3 for _, im in images}
    if len(channels) > 1:
        gray = [i for i, im in images if im.ndim == 2]
        raise SystemExit(f"pair: mixed grayscale and colour images in {paths.raw_dir(dataset)}; "
                         f"grayscale ones: {gray[:10]}")
    split = seeded_split([i for i, _ in images], ds.test_fraction, ds.split_seed)
    rows = []
    with atomic_dir(paths.pairs_dir(dataset)) as tmp:
        for image_id, img in images:
            rel = f"{split[image_id]}/{image_id}.png"
            save_image(tmp / rel, resize(img, ds.image_size))
            rows.append({"id": image_id, "split": split[image_id], "image": rel})
        pd.DataFrame(rows).to_csv(tmp / "manifest.csv", index=False)
        write_json(tmp / "dataset.json", {
            "dataset": dataset, "source": source.name, "layout": source.layout,
            "image_size": ds.image_size, "channels": channels.pop(),
            "resize": "bicubic (PIL, float32)", "split_rule": split_rule(ds.test_fraction, ds.split_seed),
            "n_train": sum(r["split"] == "train" for r in rows), "n_test": sum(r["split"] == "test" for r in rows),
        })
    print(f"pair: {dataset}: {len(rows)} images at {ds.image_size}px -> {paths.pairs_dir(dataset)}")
