"""A deliberately plain LiftDownPool2d, written straight from the paper's equations, to check and time the
production layer against: permute the lifting axis last, flatten to (N*rows, C, L), ``nn.functional.conv1d`` with
``F.pad``, three separate 1D lifts, no batching of passes. Only ``padding_mode`` ``zeros``, ``replicate`` and
``symmetric`` (flipped border slices, for pads no longer than the signal) and even sizes; it borrows the production
layer's parameters so both compute the same function."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from liftpool_lightning.nn import LiftDownPool2d
from liftpool_lightning.nn.operators import LearnedLiftingOperator


def _operator(op: LearnedLiftingOperator, x: Tensor) -> Tensor:
    """P or U on (B, C, L): Tanh(Conv1x1(ReLU(ConvK(x))))."""
    k = op.kernel_size
    left, right = (k - 1) // 2, k // 2
    if op.padding_mode == "symmetric":  # b a | a b c | c b
        y = torch.cat((x[..., :left].flip(-1), x, x[..., x.shape[-1] - right :].flip(-1)), dim=-1)
    else:
        y = F.pad(x, (left, right), mode="constant" if op.padding_mode == "zeros" else op.padding_mode)
    y = torch.relu(F.conv1d(y, op.weight, op.bias, groups=op.groups))
    y = F.conv1d(y, op.pointwise_weight.unsqueeze(-1), op.pointwise_bias, groups=op.pointwise_groups)
    return torch.tanh(y)


def _lift_last_axis(x: Tensor, predict: LearnedLiftingOperator, update: LearnedLiftingOperator):
    """One lifting step along the last axis of (N, C, R, L): returns s, d, c_u, c_p."""
    n, c, rows, length = x.shape
    flat = x.permute(0, 2, 1, 3).reshape(n * rows, c, length)
    even, odd = flat[..., 0::2], flat[..., 1::2]
    d = odd - _operator(predict, even)
    s = even + _operator(update, d)
    c_u, c_p = (s - odd).pow(2).mean(), d.pow(2).mean()

    def back(t: Tensor) -> Tensor:
        return t.reshape(n, rows, c, length // 2).permute(0, 2, 1, 3)

    return back(s), back(d), c_u, c_p


def reference_forward(layer: LiftDownPool2d, x: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Sub-bands and summed constraint losses of ``layer`` (learned, shared weights) for an even-sized ``x``."""
    if layer.lifting != "learned" or not layer.share_weights:
        raise ValueError("the reference covers learned, shared layers only")
    if layer.padding_mode not in ("zeros", "replicate", "symmetric"):
        raise ValueError("the reference covers padding_mode zeros, replicate and symmetric only")
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError("the reference covers even sizes only")
    s, d, cu_w, cp_w = _lift_last_axis(x, layer.predict, layer.update)  # along W
    bands, c_u, c_p = {}, cu_w, cp_w
    for name, t in (("l", s), ("h", d)):  # along H: transpose H last, lift, transpose back
        low, high, cu_h, cp_h = _lift_last_axis(t.transpose(-1, -2), layer.predict, layer.update)
        bands[name + "l"], bands[name + "h"] = low.transpose(-1, -2), high.transpose(-1, -2)
        c_u, c_p = c_u + cu_h, c_p + cp_h
    return bands, c_u, c_p
