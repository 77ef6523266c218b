"""One step of the lifting scheme along one axis: split, predict, update, and its exact inverse (paper Sec. 2.1).

Forward (on an even-length signal ``x``)::

    x_e, x_o = x[0::2], x[1::2]
    d = x_o - P(x_e)          # detail (high-pass)
    s = x_e + U(d)            # approximation (low-pass)

Inverse, a ladder that undoes each step exactly whatever P and U are::

    x_e = s - U(d);  x_o = d + P(x_e);  x = merge(x_e, x_o)

Constraint losses of one step (the paper's update and predict constraints, Eq. 6-7), as means of squares over all
elements: ``c_u = mean((U(d) + x_e - x_o)^2) = mean((s - x_o)^2)`` and ``c_p = mean(d^2)``, accumulated in float32
for float16/bfloat16 features (``loss_precision``). With ``detach_input``
they are evaluated on ``x.detach()`` (same values), so their gradients reach the parameters of P and U but not ``x``
(``ConstraintGradients`` ``"operators"``); without it they are differentiated as they stand (``"all"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from liftpool_lightning.nn.constants import PaddingMode
from liftpool_lightning.nn.loss_precision import mean_square
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


def _has_parameters(operator: Operator) -> bool:
    return isinstance(operator, torch.nn.Module) and any(p.requires_grad for p in operator.parameters())


def lift(
    x: Tensor, dim: int, predict: Operator, update: Operator, with_losses: bool = True, detach_input: bool = False
) -> LiftStep:
    """Forward lifting step along ``dim`` of an even-length ``x``: returns (s, d) and the constraint losses.

    ``detach_input``: the losses' gradients reach P's and U's parameters only, not ``x`` (see the module docstring);
    P and U are then evaluated a second time, on the detached input, for the losses.
    """
    x_even = _every_other(x, dim, 0)
    x_odd = _every_other(x, dim, 1)
    d = x_odd - predict(x_even, dim)
    s = x_even + update(d, dim)
    if not with_losses:
        return LiftStep(s, d, None, None)
    if not detach_input:
        return LiftStep(s, d, mean_square(s - x_odd), mean_square(d))
    x_odd = x_odd.detach()
    if _has_parameters(predict) or _has_parameters(update):
        loss_d = x_odd - predict(x_even.detach(), dim)
        loss_s = x_even.detach() + update(loss_d, dim)
    else:  # fixed stencils: nothing for the losses to train
        loss_d, loss_s = d.detach(), s.detach()
    return LiftStep(s, d, mean_square(loss_s - x_odd), mean_square(loss_d))


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
