"""Say, in one line, why a checkpoint does not fit a model: a different network, pool or class count."""

from __future__ import annotations

from collections.abc import Mapping
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
    saved: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], limit: int = 3
) -> list[str]:
    """Missing keys, unexpected keys and shape differences, at most ``limit`` named per kind."""
    problems = []
    missing = [key for key in own if key not in saved]
    unexpected = [key for key in saved if key not in own]
    shapes = [
        f"{key} {tuple(saved[key].shape)} vs {tuple(own[key].shape)}"
        for key in own
        if key in saved and tuple(saved[key].shape) != tuple(own[key].shape)
    ]
    for label, items in (("missing in checkpoint", missing), ("not in model", unexpected), ("shape", shapes)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            problems.append(f"{label}: {', '.join(items[:limit])}{more}")
    return problems
