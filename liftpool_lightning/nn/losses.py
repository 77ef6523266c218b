"""Find the LiftPool layers of a whole model and collect their constraint losses."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from liftpool_lightning.nn.pool import LiftDownPoolNd
from liftpool_lightning.nn.subbands import LiftingLosses


def liftpool_layers(model: nn.Module) -> dict[str, LiftDownPoolNd]:
    """Every LiftDownPool of ``model`` by module path (a layer shared by several paths, e.g. with its LiftUpPool,
    once)."""
    return {name: module for name, module in model.named_modules() if isinstance(module, LiftDownPoolNd)}


def lifting_losses(model: nn.Module) -> dict[str, LiftingLosses]:
    """The last forward's (c_u, c_p) of every LiftDownPool in ``model``, by module path (shared layers once)."""
    layers = liftpool_layers(model).items()
    return {name: layer.last_losses for name, layer in layers if layer.last_losses is not None}


def lifting_loss(model: nn.Module, lambda_u: float = 0.01, lambda_p: float = 0.1) -> Tensor:
    """``lambda_u * sum(c_u) + lambda_p * sum(c_p)`` over every LiftDownPool's last forward in ``model``.

    Add it to the task loss after the forward pass. Returns a zero scalar when the model has no LiftPool layer
    (or none has run yet), so it can always be added. A lambda of 0 drops that term.
    """
    for name, value in (("lambda_u", lambda_u), ("lambda_p", lambda_p)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    total: Tensor | None = None
    for losses in lifting_losses(model).values():
        term = lambda_u * losses.c_u + lambda_p * losses.c_p
        total = term if total is None else total + term
    if total is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else None
        return torch.zeros((), device=device)
    return total
