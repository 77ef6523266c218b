"""Say, in one line, why a checkpoint does not fit a model: a different network, pool or class count, or an
optimizer state another optimizer cannot resume."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

#: Hyperparameters of the tasks that decide the network's layers and parameter shapes.
ARCHITECTURE_KEYS = ("network", "num_classes", "pool", "pool_options", "up_pool", "strided_convs")


def architecture_mismatch(saved: Mapping[str, Any], own: Mapping[str, Any]) -> list[str]:
    """``key: checkpoint=A, model=B`` for every architecture hyperparameter both sides have and that differs."""
    return [
        f"{key}: checkpoint={saved[key]!r}, model={own[key]!r}"
        for key in ARCHITECTURE_KEYS
        if key in saved and key in own and saved[key] != own[key]
    ]


def state_dict_mismatch(
    saved: Mapping[str, torch.Tensor],
    own: Mapping[str, torch.Tensor],
    limit: int = 3,
    saved_name: str = "checkpoint",
    own_name: str = "model",
) -> list[str]:
    """The tensors missing from ``saved``, those ``own`` lacks, and those of another shape: each kind counted, with at
    most ``limit`` named (``saved_name`` / ``own_name`` say what the two are, e.g. ``file`` and ``network``)."""
    missing = [key for key in own if key not in saved]
    unexpected = [key for key in saved if key not in own]
    shapes = [
        f"{key}: {saved_name} {tuple(saved[key].shape)} vs {own_name} {tuple(own[key].shape)}"
        for key in own
        if key in saved and tuple(saved[key].shape) != tuple(own[key].shape)
    ]
    problems = []
    kinds = (
        (f"missing in the {saved_name}", missing),
        (f"not in the {own_name}", unexpected),
        ("of another shape", shapes),
    )
    for label, items in kinds:
        if items:
            more = f", +{len(items) - limit} more" if len(items) > limit else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:limit])}{more}")
    return problems


def _saved_optimizer_name(checkpoint: Mapping[str, Any]) -> str | None:
    """The optimizer class the checkpoint's run was configured with, where its experiment identity says."""
    identity = checkpoint.get("liftpool_experiment") or {}
    optimizer = ((identity.get("model") or {}).get("init_args") or {}).get("optimizer")
    if isinstance(optimizer, Mapping):
        return optimizer.get("class_path")
    return optimizer if isinstance(optimizer, str) else None


def optimizer_mismatch(checkpoint: Mapping[str, Any], optimizer_factory: Callable[..., Any]) -> str | None:
    """Why the checkpoint's optimizer state cannot be resumed by the optimizer ``optimizer_factory`` builds: the
    options that optimizer needs in every parameter group and the saved groups lack (another optimizer class; torch
    would fail at the first step with a ``KeyError``). None where they fit, or where there is no optimizer state."""
    try:
        saved = set(checkpoint["optimizer_states"][0]["param_groups"][0])
    except (KeyError, IndexError, TypeError):
        return None
    probe = optimizer_factory([torch.nn.Parameter(torch.zeros(1))])
    missing = sorted(set(probe.param_groups[0]) - saved - {"params"})
    if not missing:
        return None
    given = f"{type(probe).__module__}.{type(probe).__qualname__}"
    before = _saved_optimizer_name(checkpoint) or "another optimizer"
    return (
        f"the checkpoint's optimizer state is of {before}, the given optimizer is {given}, which needs "
        f"{', '.join(missing)} in its state; resume with the optimizer the checkpoint was trained with (its "
        "config.yaml beside its logs names it)"
    )
