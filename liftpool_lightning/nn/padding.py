"""Extend a tensor along one axis with any padding mode, on signals of any length (even one sample)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from liftpool_lightning.nn.constants import PaddingMode


def padding_index(length: int, left: int, right: int, mode: PaddingMode, device: torch.device) -> Tensor:
    """Source index of every sample of the extended signal ``[-left, length + right)`` for an index-based mode."""
    index = torch.arange(-left, length + right, device=device)
    if mode == "replicate":
        return index.clamp(0, length - 1)
    if mode == "circular":
        return index.remainder(length)
    if mode == "symmetric":  # half-sample symmetric: b a | a b c | c b
        index = index.remainder(2 * length)
        return torch.where(index >= length, 2 * length - 1 - index, index)
    if mode == "reflect":  # whole-sample symmetric: c b | a b c | b a
        if length == 1:
            return torch.zeros_like(index)
        period = 2 * (length - 1)
        index = index.remainder(period)
        return torch.where(index >= length, period - index, index)
    raise ValueError(f"padding_mode {mode!r} has no index rule")


def pad_axis(x: Tensor, dim: int, left: int, right: int, mode: PaddingMode) -> Tensor:
    """Pad ``x`` by ``left``/``right`` samples along ``dim``.

    Unlike ``F.pad``, ``reflect`` and ``circular`` also work when the padding is as long as the signal or longer
    (the 1-2 sample maps at the end of a VGG on 32x32 inputs); the extension then repeats periodically.
    """
    if left == 0 and right == 0:
        return x
    if mode == "zeros":
        pad = [0, 0] * (x.ndim - 1 - dim) + [left, right]
        return F.pad(x, pad)
    pieces = _edge_pieces(x, dim, left, right, mode)
    if pieces is not None:
        return torch.cat((pieces[0], x, pieces[1]), dim)
    index = padding_index(x.shape[dim], left, right, mode, x.device)
    return x.index_select(dim, index)


def _edge_pieces(x: Tensor, dim: int, left: int, right: int, mode: PaddingMode) -> tuple[Tensor, Tensor] | None:
    """The two extensions as slices of ``x`` where the padding fits inside the signal, else None.

    Slicing, flipping and concatenating is several times faster than ``index_select`` (whose backward scatters),
    and its backward is deterministic on every device, unlike ``F.pad``'s reflect and replicate.
    """
    length = x.shape[dim]
    if mode == "reflect" and max(left, right) < length:
        return x.narrow(dim, 1, left).flip(dim), x.narrow(dim, length - 1 - right, right).flip(dim)
    if mode == "symmetric" and max(left, right) <= length:
        return x.narrow(dim, 0, left).flip(dim), x.narrow(dim, length - right, right).flip(dim)
    if mode == "circular" and max(left, right) <= length:
        return x.narrow(dim, length - left, left), x.narrow(dim, 0, right)
    if mode == "replicate":
        first, last = x.narrow(dim, 0, 1), x.narrow(dim, length - 1, 1)
        return first.expand(*_sized(x, dim, left)), last.expand(*_sized(x, dim, right))
    return None


def _sized(x: Tensor, dim: int, size: int) -> list[int]:
    shape = list(x.shape)
    shape[dim] = size
    return shape
