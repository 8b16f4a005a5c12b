"""A small CNN that classifies a labelled data set's images: the domain classifier.

It stands in for the ImageNet Inception when the images are not ImageNet-like (digits, faces by
attribute): its class probabilities give a domain Inception Score and the class histogram of
generated samples (mode coverage), offline and cheaply.

Three conv stages (two 3x3 convs + batch norm + ReLU, 2x2 max pool after the first two), global
average pooling, dropout and a linear layer.  Global pooling makes it work at any size >= 8.
Inputs are [0,1] images N x C x H x W; the network maps them to [-1,1] itself.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

CHECKPOINT_FORMAT = 1


def _stage(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DomainClassifier(nn.Module):
    def __init__(self, channels: int, num_classes: int, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"DomainClassifier takes 1 or 3 channels, got {channels}")
        if num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
        self.config = {"channels": channels, "num_classes": num_classes, "width": width, "dropout": dropout}
        w = width
        self.features = nn.Sequential(*_stage(channels, w), nn.MaxPool2d(2),
                                      *_stage(w, 2 * w), nn.MaxPool2d(2),
                                      *_stage(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * w, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, K) of [0,1] images (N, C, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.config["channels"]:
            raise ValueError(f"expected N x {self.config['channels']} x H x W images, got {tuple(x.shape)}")
        return self.head(self.features(2 * x - 1))

    @torch.no_grad()
    def predict_logits(self, images, batch_size: int = 256, device: str | torch.device = "cpu") -> np.ndarray:
        """Logits (N, K) as float64 for an array/tensor of [0,1] images, batch by batch, in eval mode."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32) if not isinstance(images, torch.Tensor) else images)
        if x.ndim == 3:  # (N, H, W) grayscale
            x = x[:, None]
        was_training = self.training
        self.to(device).eval()
        try:
            out = [self(x[i:i + batch_size].to(device, torch.float32)).cpu() for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(out).to(torch.float64).numpy()


def save_classifier(path: Path | str, model: DomainClassifier, meta: dict) -> None:
    """A self-describing checkpoint (config + weights + JSON-able meta), loadable with weights_only."""
    torch.save({"format": CHECKPOINT_FORMAT, "config": model.config, "state_dict": model.state_dict(),
                "meta": meta}, path)


def load_classifier(path: Path | str) -> tuple[DomainClassifier, dict]:
    """(model in eval mode, meta) from :func:`save_classifier`'s file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no domain classifier here")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a ganflow domain-classifier checkpoint (format {CHECKPOINT_FORMAT})")
    model = DomainClassifier(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.eval(), ckpt["meta"]
