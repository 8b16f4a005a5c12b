"""Supervised training of the domain classifier (nn/classifier.py) on a labelled set's train split.

Plain cross-entropy with Adam for a fixed number of steps, seeded minibatches, an optional
random shift of a few pixels (digits and faces are roughly centred, a shift is the augmentation
that does not change the class), and model selection on the validation split: the weights of the
best validation accuracy are kept, so training a little too long cannot hurt.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ganflow.bars import shown_if
from ganflow.nn.classifier import DomainClassifier


@dataclass(frozen=True)
class FitConfig:
    steps: int = 500
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    width: int = 16
    dropout: float = 0.3
    max_shift: int = 2
    eval_every: int = 50
    seed: int = 0


def accuracy(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, device) -> float:
    logits = model.predict_logits(images, device=device)
    return float((logits.argmax(axis=1) == labels.numpy()).mean())


def _shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by up to ``max_shift`` pixels (edge-replicated), independently."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def fit_classifier(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                   num_classes: int, cfg: FitConfig, device: torch.device | str = "cpu",
                   progress: bool = True) -> tuple[DomainClassifier, list[dict]]:
    """Train on (train_x, train_y) -- [0,1] images N x C x H x W and int64 labels -- and return
    the model at its best validation accuracy (in eval mode) and the evaluation history."""
    if len(train_x) != len(train_y) or len(val_x) != len(val_y):
        raise ValueError("images and labels differ in number")
    if len(train_x) == 0 or len(val_x) == 0:
        raise ValueError(f"need training and validation images, got {len(train_x)} and {len(val_x)}")
    torch.manual_seed(cfg.seed)  # initial weights and dropout masks
    gen = torch.Generator().manual_seed(cfg.seed)  # minibatches and shifts
    model = DomainClassifier(train_x.shape[1], num_classes, width=cfg.width, dropout=cfg.dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    history: list[dict] = []
    best = (-1.0, 0, None)  # (val accuracy, step, state)
    batch = min(cfg.batch_size, len(train_x))
    bar = tqdm(range(1, cfg.steps + 1), desc="classifier", unit="step", **shown_if(progress))
    for step in bar:
        model.train()
        idx = torch.randint(0, len(train_x), (batch,), generator=gen)
        x = _shift(train_x[idx], cfg.max_shift, gen).to(device)
        loss = F.cross_entropy(model(x), train_y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            val_acc = accuracy(model, val_x, val_y, device)
            history.append({"step": step, "loss": loss.item(), "val_accuracy": val_acc})
            bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{val_acc:.3f}")
            if val_acc > best[0]:
                best = (val_acc, step, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    history.append({"best_step": best[1], "best_val_accuracy": best[0]})
    return model.eval(), history


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (labels, predicted), 1)
    return out
