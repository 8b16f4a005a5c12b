"""The model registry: one module per GAN, registered by name; adding one touches nothing else."""
from __future__ import annotations

import importlib
import pkgutil

from ganflow.errors import ParamsError
from ganflow.models.base import GAN

MODELS: dict[str, type[GAN]] = {}


def register(name: str, task: str):
    """Register a model under ``name``; ``task`` is the task it belongs to (stages/tasks/<task>.py),
    the default of every experiment that uses it."""
    def add(cls: type[GAN]) -> type[GAN]:
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        cls.name = name
        cls.task = task
        MODELS[name] = cls
        return cls
    return add


def load_all() -> None:
    """Import every module of this package so that each registers its model."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def get_model(name: str) -> type[GAN]:
    load_all()
    if name not in MODELS:
        raise ParamsError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]
