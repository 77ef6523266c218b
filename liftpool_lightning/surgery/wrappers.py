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


class MaxBlurPoolWithIndices(nn.Module):
    """Stands in for ``MaxPool(return_indices=True)`` with an anti-aliased encoder: returns the MaxBlurPool output
    and the indices of the replaced max pool's window maxima, so a paired ``MaxUnpool`` puts each blurred value
    where its window's maximum was (SegNet's decoder, unchanged, behind a BlurPool encoder)."""

    def __init__(self, pool: nn.Module, max_pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool
        self.max_pool = max_pool  # the original MaxPool(return_indices=True): its indices only

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.pool(x)
        _, indices = self.max_pool(x)
        if indices.shape != out.shape:
            raise RuntimeError(f"MaxBlurPool output {tuple(out.shape)} and max indices {tuple(indices.shape)} differ")
        return out, indices


class InterpolateUnpool(nn.Module):
    """Stands in for ``MaxUnpool``: same call signature, but up-samples by (bi/tri)linear interpolation and ignores
    the indices: the plain decoder that neither the pool's indices nor its detail bands help (a reference)."""

    def __init__(self, unpool: nn.Module, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.unpool = unpool  # its kernel, stride and padding give the output size when none is passed

    def forward(self, x: Tensor, indices: Tensor | None = None, output_size: Sequence[int] | None = None) -> Tensor:
        dims = self.spatial_dims
        if output_size is None:
            kernel, stride, padding = (_per_dim(getattr(self.unpool, name), dims)
                                       for name in ("kernel_size", "stride", "padding"))  # fmt: skip
            inputs = x.shape[-dims:]
            size = [(n - 1) * s + k - 2 * p for n, s, k, p in zip(inputs, stride, kernel, padding, strict=True)]
        else:
            size = [int(n) for n in list(output_size)[-dims:]]
        return nn.functional.interpolate(x, size=size, mode=_INTERPOLATION[dims], align_corners=False)


_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _per_dim(value: int | Sequence[int], dims: int) -> list[int]:
    return [int(v) for v in value] if isinstance(value, Sequence) else [int(value)] * dims


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
