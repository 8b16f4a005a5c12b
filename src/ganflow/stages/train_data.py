"""Which example store a training run reads (train.<exp>.data), and what run.json says of it.

``memory`` decodes the training split once into tensors (the task's training_tensors);
``disk`` decodes each batch's rows from their files (the task's training_columns), read ahead
by ``train.<exp>.workers`` DataLoader processes; ``auto`` takes memory while the decoded split
stays under AUTO_MEMORY_BYTES, else disk.  Both give the same batches bit for bit
(tests/test_data_loader.py), so the choice is about memory and speed, never about results.
Tasks without training_columns (unpaired, domains, captioned) train from memory only.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ganflow.data.stores import DiskStore
from ganflow.errors import ParamsError
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.stages.tasks import task_for

# Under this many bytes of decoded float32 tensors (jitter's resized copy included), auto keeps
# the split in memory: a size any training machine holds beside the networks.
AUTO_MEMORY_BYTES = 1 << 30


def training_data(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor] | DiskStore, DataInfo, dict]:
    """(data folder, tensors or a DiskStore, DataInfo, the record of the choice for run.json)."""
    t = params.train[exp]
    task = task_for(params, exp)
    name = params.experiment(exp).task
    on_disk = hasattr(task, "training_columns")
    if t.data == "disk" and not on_disk:
        raise ParamsError(f"train.{exp}.data: 'disk' is not available for the {name} task (it trains from "
                          f"memory only); use 'memory' or 'auto'")
    record = {"asked": t.data, "auto_memory_bytes": AUTO_MEMORY_BYTES}
    if t.data == "disk" or (t.data == "auto" and on_disk):
        data_dir, columns, info = task.training_columns(params, exp)
        try:
            store = DiskStore(columns, t.load_size)
        except ValueError as err:
            raise ParamsError(f"train.{exp}.load_size: {err}") from None
        record["decoded_bytes"] = store.decoded_bytes()
        if t.data == "disk" or record["decoded_bytes"] >= AUTO_MEMORY_BYTES:
            return data_dir, store, info, {**record, "store": "disk", "workers": t.workers, "rows": store.n}
    data_dir, tensors, info = task.training_tensors(params, exp)
    why = {} if on_disk else {"why": f"the {name} task trains from memory only"}
    return data_dir, tensors, info, {**record, **why, "store": "memory", "workers": 0,
                                     "rows": len(next(iter(tensors.values())))}
