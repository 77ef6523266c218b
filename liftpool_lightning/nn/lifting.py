"""One step of the lifting scheme along one axis: split, predict, update, and its exact inverse (paper Sec. 2.1).

Forward (on an even-length signal ``x``)::

    x_e, x_o = x[0::2], x[1::2]
    d = x_o - P(x_e)          # detail (high-pass)
    s = x_e + U(d)            # approximation (low-pass)

Inverse, a ladder that undoes each step exactly whatever P and U are::

    x_e = s - U(d);  x_o = d + P(x_e);  x = merge(x_e, x_o)

Constraint losses of one step (the paper's update and predict constraints), as means of squares over all elements:
``c_u = mean((U(d) + x_e - x_o)^2) = mean((s - x_o)^2)`` and ``c_p = mean(d^2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from liftpool_lightning.nn.constants import PaddingMode
from liftpool_lightning.nn.padding import pad_axis

Operator = Callable[[Tensor, int], Tensor]
"""A P or U operator: ``op(x, dim)`` filters ``x`` along ``dim`` and keeps its shape."""


class LiftStep(NamedTuple):
    """Result of one forward lifting step."""

    low: Tensor
    high: Tensor
    c_u: Tensor | None
    c_p: Tensor | None


def _every_other(x: Tensor, dim: int, start: int) -> Tensor:
    index: list[slice] = [slice(None)] * x.ndim
    index[dim] = slice(start, None, 2)
    return x[tuple(index)]


def even_length(x: Tensor, dim: int, ceil_mode: bool, padding_mode: PaddingMode) -> Tensor:
    """Make the length along ``dim`` even: extend by one sample (``ceil_mode``) or drop the last one."""
    if x.shape[dim] % 2 == 0:
        return x
    if ceil_mode:
        return pad_axis(x, dim, 0, 1, padding_mode)
    return x.narrow(dim, 0, x.shape[dim] - 1)


def lift(x: Tensor, dim: int, predict: Operator, update: Operator, with_losses: bool = True) -> LiftStep:
    """Forward lifting step along ``dim`` of an even-length ``x``: returns (s, d) and the constraint losses."""
    x_even = _every_other(x, dim, 0)
    x_odd = _every_other(x, dim, 1)
    d = x_odd - predict(x_even, dim)
    s = x_even + update(d, dim)
    if not with_losses:
        return LiftStep(s, d, None, None)
    c_u = (s - x_odd).pow(2).mean()
    c_p = d.pow(2).mean()
    return LiftStep(s, d, c_u, c_p)


def unlift(low: Tensor, high: Tensor, dim: int, predict: Operator, update: Operator) -> Tensor:
    """Inverse lifting step along ``dim``: rebuild the even-length signal from (s, d)."""
    x_even = low - update(high, dim)
    x_odd = high + predict(x_even, dim)
    return torch.stack((x_even, x_odd), dim=dim + 1).flatten(dim, dim + 1)


def fit_length(x: Tensor, dim: int, length: int) -> Tensor:
    """Crop ``x`` along ``dim`` to ``length``, or extend it by repeating its last sample."""
    current = x.shape[dim]
    if current > length:
        return x.narrow(dim, 0, length)
    if current < length:
        return pad_axis(x, dim, 0, length - current, "replicate")
    return x
