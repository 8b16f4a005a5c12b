"""train: fit an experiment's GAN; write results/<exp>/model/ and results/<exp>/losses.csv.

A resumable checkpoint lives in results/<exp>/resume/ while training runs (outside the declared
outputs, which Snakemake and DVC delete before a rerun).  Rerunning the same command after a
crash resumes from it; a resume with different params is refused with a diff unless --force.
"""
from __future__ import annotations

import shutil

import pandas as pd
import torch

from ganflow.atomic import atomic_dir, atomic_path, write_json
from ganflow.data.tensors import BatchStream, to_images
from ganflow.errors import CheckpointError, MissingInputError, ParamsError, TrainingError
from ganflow.machine import numerics
from ganflow.models import get_model
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.provenance import code_version, hash_tree, package_versions
from ganflow.report.grids import save_grid
from ganflow.stages import paths
from ganflow.stages.train_data import training_data
from ganflow.train.checkpoint import FOR_INFERENCE, FOR_RESUME, load_checkpoint, params_diff, save_checkpoint
from ganflow.train import distributed
from ganflow.train.device import amp_dtype, amp_note, compile_networks, configure_torch, pick_device
from ganflow.train.loop import LoopSettings, NonFiniteLoss, train

N_SNAPSHOT = 16
NEUTRAL_KEYS = ("train.data:", "train.workers:")  # params_diff lines a resume may ignore


def run(params: Params, exp: str, force: bool = False, threads: int | None = None) -> None:
    e = params.experiment(exp)
    t = params.train[exp]
    configure_torch(threads or t.threads)
    torch.manual_seed(t.seed)
    device = pick_device(t.device)
    ddp = distributed.from_env(device)  # under torchrun: this process's rank; else None
    if ddp is not None:
        device = ddp.device(device)

    data_dir, examples, info, store_record = training_data(params, exp)  # memory or disk (train_data.py)
    cls = get_model(e.model)
    model = cls(cls.Config(**t.net), info, t.lr, (t.beta1, t.beta2))
    if ddp is not None:
        distributed.prepare(model, device, ddp, seed=t.seed, sync_bn=t.sync_batchnorm)
    if t.compile:
        compile_networks(model)
    # Under torchrun every rank plans the same global batch and reads only its own share of it.
    try:
        batches = BatchStream(examples, t.batch_size, seed=t.seed, flip=t.augment_flip, load_size=t.load_size,
                              workers=t.workers, pin_memory=device.type == "cuda",
                              share=None if ddp is None else (ddp.rank, ddp.world_size))
    except ValueError as err:
        key = "batch_size" if "does not split" in str(err) else "load_size"
        raise ParamsError(f"train.{exp}.{key}: {err}") from None

    dtype = amp_dtype(device, t.amp)
    record = {
        "experiment": exp, "model": e.model, "dataset": e.dataset, "task": e.task,
        "params": {"experiment": e.model_dump(mode="json"), "train": t.model_dump(mode="json")},
        "code": code_version(), "packages": package_versions(), "device": str(device),
        "numerics": numerics(device),  # what decides the bits: ganflow reproduce compares bit for bit only on a match
        # what train.<exp>.amp became here (numerics' cpu_flags say whether bf16 / AMX exist)
        "amp_dtype": None if dtype is None else str(dtype).removeprefix("torch."),
        "deterministic": device.type == "cpu",
        "data": {"path": str(data_dir), "sha256": hash_tree(data_dir)},
        "data_store": store_record,  # which store fed the batches (same bits either way), how many readers
        "n_parameters": {name: sum(p.numel() for p in getattr(model, name).parameters())
                         for name in ("G", "D") if hasattr(model, name)},
        "seed": t.seed, "threads": torch.get_num_threads(), "processes": ddp.world_size if ddp else 1,
    }
    resume_dir = paths.exp_dir(exp) / "resume"
    ckpt = resume_dir / "checkpoint.pt"
    start = None
    if ckpt.exists():
        start = load_checkpoint(ckpt, FOR_RESUME)
        # Where the examples are kept changes no bit of a batch: a run may resume on the other store.
        diff = [line for line in params_diff(start["params"], record["params"])
                if not line.startswith(NEUTRAL_KEYS)]
        if diff and not force:
            raise TrainingError(f"train: {ckpt} was made with other params; refusing to resume:\n  "
                             + "\n  ".join(diff) + "\nrerun with --force to start afresh")
        if diff or start["step"] >= t.steps:
            start = None
        else:
            print(f"train: resuming {exp} from step {start['step']}")
    if ddp is None or ddp.is_main:  # only rank 0 writes
        if start is None:
            shutil.rmtree(resume_dir, ignore_errors=True)
        resume_dir.mkdir(parents=True, exist_ok=True)
        write_json(resume_dir / "run.json", record)  # the run record exists before the first step
        note = amp_note(device, t.amp)
        if note:
            print(f"train: {note}")

    fixed = batches.store.head(N_SNAPSHOT)  # the first rows as stored (a disk store reads just these)

    def snapshot(step: int) -> None:
        batch = {k: v.to(device) for k, v in fixed.items()}
        if hasattr(model, "snapshot"):  # a model with its own fixed input (e.g. noise z) shows its outputs
            shown = to_images(model.snapshot(batch))
        else:
            out = model.generate(batch)
            shown = to_images(fixed["A"]) + to_images(out) if "A" in fixed else to_images(out)
        save_grid(resume_dir / "snapshots" / f"step_{step:06d}.png", shown, ncols=N_SNAPSHOT, scale=2)

    settings = LoopSettings(t.steps, t.log_every, t.snapshot_every, t.checkpoint_every, device, t.amp,
                            t.channels_last)
    meta = {"model_name": e.model, "experiment": exp, "params": record["params"], "code": record["code"],
            "data_info": info.__dict__}
    try:
        final = train(model, batches, settings, ckpt, meta, snapshot, start, ddp=ddp)
    except NonFiniteLoss as err:
        raise TrainingError(f"train: {err}") from None
    finally:
        batches.close()  # the DataLoader's reader processes, if any
    if ddp is not None:
        distributed.shutdown(ddp)
        if not ddp.is_main:
            return

    record["wall_time_s"] = round(final["wall_time"], 2)
    record["steps"] = final["step"]
    with atomic_dir(paths.model_dir(exp)) as tmp:
        # The delivered checkpoint keeps weights and metadata, not timings (so that reruns on CPU give
        # the same bytes); optimiser and data-stream state stay in resume/.
        save_checkpoint(tmp / "checkpoint.pt", {k: v for k, v in final.items()
                                                if k not in ("optimizers", "schedulers", "data", "losses", "wall_time")})
        write_json(tmp / "run.json", record)
        shutil.copytree(resume_dir / "snapshots", tmp / "snapshots")
    with atomic_path(paths.losses_csv(exp)) as tmp:
        pd.DataFrame(final["losses"]).to_csv(tmp, index=False)
    shutil.rmtree(resume_dir, ignore_errors=True)
    print(f"train: {exp}: {final['step']} steps in {final['wall_time']:.0f}s -> {paths.model_dir(exp)}")


def load_trained(params: Params, exp: str, device: torch.device):
    """The trained model of an experiment, in eval mode, from results/<exp>/model/checkpoint.pt."""
    params.experiment(exp)  # an unknown name stops here, listing the known experiments
    path = paths.model_dir(exp) / "checkpoint.pt"
    if not path.exists():
        raise MissingInputError(f"{path}: no trained model; run `ganflow train --exp {exp}` first")
    state = load_checkpoint(path, FOR_INFERENCE)
    try:
        cls = get_model(state["model_name"])
    except ParamsError as e:
        raise CheckpointError(f"{path}: {e}") from None
    trained = state["params"]["train"]
    try:
        model = cls(cls.Config(**trained["net"]), DataInfo(**state["data_info"]), trained["lr"],
                    (trained["beta1"], trained["beta2"]))
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError) as e:  # pydantic's ValidationError is a ValueError
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: its weights or settings do not fit a {state['model_name']} "
                              f"({type(e).__name__}: {first})") from None
    return model.to(device).eval(), path
