"""answer_key: the staff side of the homework's test set, as submission-layout CSVs.

data/grading/<dataset>/
  answer_key.csv       Test/Real in the submission layout (report/submission.py): what is graded against
  masked_inputs.csv    Test/White in the same layout: the students' template, and the baseline's input
  boxes.csv            the test images' mouth boxes, in test-set order
  fills.npz            the no-learning fills of every test box the integrity checks compare with
                       (report/fills.py: border fills, biharmonic, mean and nearest training face),
                       and the training faces (8-bit) for the nearest-training-box distance
  key.json             the layout (ids, size, channels), the real-mouth statistics the integrity
                       checks compare with, and content hashes of everything above
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ganflow.atomic import atomic_dir, write_bytes, write_json
from ganflow.data.images import list_images, load_image
from ganflow.errors import DataError, MissingInputError
from ganflow.hashing import sha256_file
from ganflow.params import Params
from ganflow.provenance import code_version, hash_tree
from ganflow.report.fills import reference_fills
from ganflow.report.grading import mouth_statistics
from ganflow.report.submission import Layout, ordered_test_ids, write_submission
from ganflow.stages import paths

BOX_COLUMNS = ["top", "left", "bottom", "right"]


def key_dir(dataset: str):
    return paths.DATA / "grading" / dataset


def run(params: Params, dataset: str) -> None:
    params.dataset(dataset)
    masked = paths.masked_dir(dataset)
    test = masked / "Test"
    for folder in (test / "Real", test / "White"):
        if not folder.is_dir():
            raise MissingInputError(f"answer_key: {folder} not found; run `ganflow mask --dataset {dataset}` first")
    ids = ordered_test_ids(test / "Real")
    if not ids:
        raise DataError(f"answer_key: {test / 'Real'} holds no images")
    if ordered_test_ids(test / "White") != ids:
        raise DataError(f"answer_key: {test / 'Real'} and {test / 'White'} do not hold the same image names")
    truth = np.stack([load_image(test / "Real" / f"{i}.png") for i in ids])
    white = np.stack([load_image(test / "White" / f"{i}.png") for i in ids])

    boxes = pd.read_csv(masked / "boxes.csv").set_index("id")
    missing = [i for i in ids if i not in boxes.index]
    if missing:
        raise DataError(f"answer_key: {masked / 'boxes.csv'} has no box for {missing[:10]}")
    # The reference for "what a real mouth looks like": every box of the data set, whatever its split
    # (Training/, Validation/, Test/ each hold a Real/ folder).
    real = {p.stem: p for split in sorted(masked.iterdir()) if (split / "Real").is_dir()
            for p in list_images(split / "Real")}
    refs = [(load_image(real[i]), tuple(int(v) for v in boxes.loc[i, BOX_COLUMNS])) for i in boxes.index if i in real]
    reference = mouth_statistics([im for im, _ in refs], [b for _, b in refs])

    layout = Layout.of(truth, ids)
    train_folder = masked / "Training" / "Real"
    train_real = (np.stack([load_image(p) for p in list_images(train_folder)]) if train_folder.is_dir()
                  else np.zeros((0, *truth.shape[1:])))
    test_boxes = [tuple(int(v) for v in boxes.loc[i, BOX_COLUMNS]) for i in ids]
    mean_source = train_real if len(train_real) else truth[:0] + white.mean(axis=0, keepdims=True)
    fills = reference_fills(white, test_boxes, mean_source)
    with atomic_dir(key_dir(dataset)) as tmp:
        buf = io.BytesIO()
        np.savez_compressed(buf, **fills, training_real=np.round(train_real * 255).astype(np.uint8))
        write_bytes(tmp / "fills.npz", buf.getvalue())
        write_submission(tmp / "answer_key.csv", truth, ids)
        write_submission(tmp / "masked_inputs.csv", white, ids)
        boxes.loc[ids, BOX_COLUMNS].rename_axis("id").reset_index().to_csv(tmp / "boxes.csv", index=False)
        write_json(tmp / "key.json", {
            "dataset": dataset, "layout": layout.to_dict(),
            "format": "one row per pixel value (row-major; RGB: (r*W + c)*3 + k, k in R, G, B), "
                      "one column per test image in test-set order, values in [0, 1]",
            "mouth_reference": reference,
            "sources": {"test_real": str(test / "Real"), "test_white": str(test / "White"),
                        "boxes": str(masked / "boxes.csv")},
            # hash_tree of Test/Real is what evaluate records as rmse.json's reference_sha256.
            "reference_sha256": hash_tree(test / "Real"),
            "sha256": {name: sha256_file(tmp / name) for name in ("answer_key.csv", "masked_inputs.csv", "boxes.csv", "fills.npz")},
            "fills": sorted(fills),
            "code": code_version(),
        })
    print(f"answer_key: {dataset}: {len(ids)} test images, {layout.height} x {layout.width} x {layout.channels}; "
          f"real-mouth HF energy {reference['hf_energy_min']:.4g}..{reference['hf_energy_max']:.4g} "
          f"over {reference['n']} boxes -> {key_dir(dataset)}")
