"""Data-parallel training over processes started by torchrun (several GPUs, or CPU with gloo).

    torchrun --nproc_per_node 2 -m ganflow.cli train --exp pix2pix

Every rank draws the same global batch plan from the same seeded BatchStream and reads, and
trains on, its own slice of it (BatchStream(share=(rank, world)): a disk store decodes only
that rank's rows); after each phase's backward the gradients of that phase's optimiser are averaged
over the ranks, so every rank takes the same optimiser step a single process would take on the
whole global batch (DistributedDataParallel's reduction, done per phase).  Why not wrap G and D
in ``torch.nn.parallel.DistributedDataParallel``: a GAN step runs D forward several times before
one backward, runs G forward in one phase and backward in the next, and DDP re-broadcasts batch
norm buffers in place on every forward -- the wrapper's known failure modes with GANs -- while
the models call ``self.G`` / ``self.D`` directly and would all need changes.  Averaging a phase's
gradients at a point the loop controls gives the same update with none of that.

Only rank 0 writes (checkpoints, losses, snapshots, run record).  Randomness inside the step
(dropout, noise) is seeded per rank, as it would differ between samples in one process.
``sync_batchnorm`` makes batch norm use the statistics of the whole global batch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda:<local rank>."""
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This rank's contiguous slice of the global batch."""
        n = len(next(iter(batch.values())))
        if n % self.world_size:
            raise ValueError(f"global batch of {n} does not split over {self.world_size} processes; "
                             f"make train.<exp>.batch_size a multiple of {self.world_size}")
        k = n // self.world_size
        return {key: v[self.rank * k:(self.rank + 1) * k] for key, v in batch.items()}

    def mean(self, flat: torch.Tensor) -> torch.Tensor:
        """A flat tensor of loss terms averaged over the ranks: the global batch's values (every
        rank sees the same, so a non-finite loss stops every rank at once instead of leaving the
        others waiting)."""
        flat = flat.clone()
        dist.all_reduce(flat)
        return flat / self.world_size

    def average_grads(self, opt: torch.optim.Optimizer) -> None:
        """Average the gradients of ``opt``'s parameters over the ranks, in one flat all-reduce."""
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n

    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers everywhere (they are seeded alike; this makes sure)."""
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)


def from_env(device: torch.device) -> Distributed | None:
    """The torchrun process group, or None in an ordinary single-process run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shutdown(ddp: Distributed | None) -> None:
    if ddp is not None and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks, differentiable: the gradient of a sum over ranks is the sum over ranks
    of the gradients (each rank's loss depends on every rank's input through the statistics)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    return _AllReduceSum.apply(x)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch on any backend (torch's SyncBatchNorm is GPU-only).

    Two differentiable all-reduces per layer (sum, then squared deviations) give the exact mean
    and biased variance of the union of the ranks' slices; autograd carries the gradient back
    through them, so averaged gradients equal a single process's on the whole batch.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:  # any N x C x ... input
        if x.ndim < 2:
            raise ValueError(f"expected an N x C (x ...) input, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [d for d in range(x.ndim) if d != 1]
        shape = [1, -1] + [1] * (x.ndim - 2)
        count = torch.tensor(float(x.numel() // x.shape[1]), device=x.device)
        dist.all_reduce(count)
        mean = all_reduce(x.sum(dims)) / count
        var = all_reduce(((x - mean.view(shape)) ** 2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * count / max(count - 1, 1), alpha=m)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm layer by a synchronised one, keeping the same Parameter objects
    (the optimisers built before still hold them) and the same state_dict keys."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            sync_batchnorm(child, device)
    return module


def prepare(model: nn.Module, device: torch.device, ddp: Distributed, seed: int, sync_bn: bool) -> None:
    """Ready a freshly built model for data-parallel training on this rank."""
    if sync_bn:
        sync_batchnorm(model, device)
    model.to(device)
    ddp.broadcast_module(model)
    # Dropout masks and noise differ per rank, as they differ per sample in one process.
    torch.manual_seed(seed + ddp.rank)

