"""Spectral normalisation of a discriminator (Miyato et al. 2018), with torch's own parametrisation.

Every weight W of a convolution, linear layer or embedding is used as W / sigma(W), sigma the
largest singular value of W reshaped to (out, -1), estimated by one power iteration per training
forward.  Each layer is then 1-Lipschitz, which bounds how sharply D can separate real from fake
and keeps its gradients to G useful; it is the standard partner of the hinge loss.

Apply it after the weights are initialised: the parametrisation keeps the raw weight as
``parametrizations.weight.original`` and its power-iteration vectors start from that weight, so
initialising afterwards (init_weights writes ``m.weight``) would be lost or leave them stale.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.nn.utils.parametrize import is_parametrized

SN_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def spectral_normed(net: nn.Module) -> nn.Module:
    """``net`` with every weighted layer's weight spectrally normalised (in place; returned for chaining)."""
    for m in list(net.modules()):
        if isinstance(m, SN_LAYERS) and not is_parametrized(m, "weight"):
            spectral_norm(m)  # ConvTranspose2d: torch takes its output dimension (dim 1) itself
    return net


def maybe_spectral_normed(net: nn.Module, on: bool) -> nn.Module:
    return spectral_normed(net) if on else net
