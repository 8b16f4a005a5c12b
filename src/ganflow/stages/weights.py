"""weights: data/weights/fid_inception.pt (FIDInceptionV3 state dict) + fid_inception.json (provenance)."""
from __future__ import annotations

import torch

from ganflow.atomic import atomic_dir, write_json
from ganflow.data.fid_weights import converted_state, find_weights
from ganflow.hashing import sha256_file
from ganflow.metrics.inception import PREPROCESSING, FIDInceptionV3
from ganflow.params import Params
from ganflow.stages import paths


def run(params: Params) -> None:
    w = params.weights.fid_inception
    found = find_weights(list(w.sources), w.path, w.release_url, w.pip_spec)
    state = converted_state(found)
    FIDInceptionV3(with_logits="fc.weight" in state).load_state_dict(state, strict=True)  # fail here, not later
    target = paths.weights_dir()
    with atomic_dir(target) as tmp:
        out = tmp / paths.fid_weights_file().name
        torch.save(state, out)
        write_json(tmp / "fid_inception.json", {
            "source": found.source, "source_file": str(found.path), "source_kind": found.kind,
            "source_sha256": found.sha256, "sha256": sha256_file(out),
            "has_logits": "fc.weight" in state, "preprocessing": PREPROCESSING,
        })
    print(f"weights: FID Inception from {found.source} ({found.path}) -> {paths.fid_weights_file()}")
