"""Small modules the surgery puts in place of a layer, so the model's own forward code keeps working unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from liftpool_lightning.nn import LiftDownPoolNd, LiftUpPoolNd

REPLACED_MARK = "_liftpool_replaced"
"""Attribute set on every module the surgery inserts; marked modules (and their children) are never swapped again."""


def mark_replaced(module: nn.Module) -> nn.Module:
    """Tag ``module`` as inserted by the surgery (keeps a second ``replace_pooling`` from wrapping it again)."""
    setattr(module, REPLACED_MARK, True)
    return module


def is_replaced(module: nn.Module) -> bool:
    return bool(getattr(module, REPLACED_MARK, False))


class ConvThenPool(nn.Sequential):
    """A strided convolution turned into the same convolution with stride 1 followed by a pool (anti-aliasing
    style). The convolution is the original module, weights untouched."""

    def __init__(self, conv: nn.Module, pool: nn.Module) -> None:
        super().__init__(conv, pool)


class LiftDownPoolWithIndices(nn.Module):
    """Stands in for ``MaxPool(return_indices=True)``: returns ``(pooled, indices)`` like it, so code such as
    ``x, idx = self.pool(x)`` keeps working. The indices are a zero-memory placeholder: the paired
    ``LiftUnpool`` ignores them and inverts the lifting with the recorded detail bands instead."""

    def __init__(self, pool: LiftDownPoolNd) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.pool(x)
        return out, torch.zeros((), dtype=torch.long, device=out.device).expand(out.shape)


class LiftUnpool(nn.Module):
    """Stands in for ``MaxUnpool``: same call signature ``(x, indices, output_size=None)``, runs a LiftUpPool."""

    def __init__(self, up: LiftUpPoolNd) -> None:
        super().__init__()
        self.up = up

    def forward(self, x: Tensor, indices: Tensor | None = None, output_size: Sequence[int] | None = None) -> Tensor:
        return self.up(x, output_size=output_size)


class MaxUnpoolBlur(nn.Module):
    """MaxUnpool followed by a blur (stride-1 BlurPool) that fills the zeros it leaves: the paper's
    "MaxUpPool + BlurPool" up-sampling baseline."""

    def __init__(self, unpool: nn.Module, blur: nn.Module) -> None:
        super().__init__()
        self.unpool = unpool
        self.blur = blur

    def forward(self, x: Tensor, indices: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return self.blur(self.unpool(x, indices, output_size=output_size))
