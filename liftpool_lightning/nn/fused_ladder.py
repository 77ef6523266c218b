"""The n-D ladder of a LiftDownPool / LiftUpPool on one channels-last band buffer, step by step, through the
step backend ``backends.select`` picked for the layer.

A ``(N, C, S_1, ..., S_n)`` input is viewed channels-last, ``(N, S_1, ..., S_n, C)`` (a free view when the input
already is channels-last; otherwise the first step reads it strided). Lifting the last axis gives a buffer
``(2, N, S_1, ..., S_n/2, C)``, the next axis ``(4, N, ..., S_(n-1)/2, S_n/2, C)``, and so on: sub-band ``i`` of
the final ``(2**n, N, S'..., C)`` buffer is low (``l``) or high (``h``) along the axis lifted at step ``j``
according to bit ``j`` of ``i``, which is the order of ``constants.band_names``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from liftpool_lightning.nn._step_common import OperatorWeights, lifting_padding
from liftpool_lightning.nn.backend_base import StepBackend
from liftpool_lightning.nn.constants import PaddingMode
from liftpool_lightning.nn.lifting import even_length, fit_length


def band_index(name: str) -> int:
    """Position of band ``name`` (``"lh"``: low along W, high along H) in the buffer."""
    return sum(1 << level for level, letter in enumerate(name) if letter == "h")


def _unrows(rows: Tensor, trailing: torch.Size) -> Tensor:
    return rows.squeeze(-2) if not trailing else rows.unflatten(-2, trailing)


def _rows(buffer: Tensor, axis: int) -> Tensor:
    """``buffer`` as rows ``(*batch, L, R, C)`` lifted along ``axis`` (the axes after it flattened into ``R``)."""
    if axis == buffer.ndim - 2:
        return buffer.unsqueeze(-2)
    return buffer.flatten(axis + 1, -2)


def analysis(
    steps: StepBackend,
    x: Tensor,
    predict: OperatorWeights,
    update: OperatorWeights,
    kernel_size: int,
    padding_mode: PaddingMode,
    ceil_mode: bool,
    with_losses: bool,
    losses_reach_input: bool = False,
    activation: str = "tanh",
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """All sub-bands of ``x`` as one buffer ``(2**n, N, S'..., C)`` and the summed losses (c_u, c_p).

    ``losses_reach_input``: the losses' gradients flow into each step's input too (``constraint_gradients="all"``),
    not only into P's and U's parameters. ``activation``: P's and U's last activation (``tanh`` or ``identity``)."""
    spatial_dims = x.ndim - 2
    padding = lifting_padding(kernel_size, padding_mode)
    buffer = x.movedim(1, -1)
    c_u: Tensor | None = None
    c_p: Tensor | None = None
    for level in range(spatial_dims):
        axis = buffer.ndim - 2 - level
        buffer = even_length(buffer, axis, ceil_mode, padding_mode)
        trailing = buffer.shape[axis + 1 : -1]
        step_input = buffer.movedim(-1, 1) if level == 0 else _rows(buffer, axis)  # the input as it is: as_rows
        bands, step_c_u, step_c_p = steps.lift_rows(
            step_input, padding=padding, predict=predict, update=update, with_losses=with_losses, images=level == 0,
            losses_reach_input=losses_reach_input, activation=activation,
        )  # fmt: skip
        buffer = _unrows(bands, trailing)
        if level:
            buffer = buffer.flatten(0, 1)
        if with_losses:
            stacked = 1 << level  # a mean over the stacked bands: times their number, as one lift per band
            c_u = step_c_u * stacked if c_u is None else c_u + step_c_u * stacked
            c_p = step_c_p * stacked if c_p is None else c_p + step_c_p * stacked
    return buffer, c_u, c_p


def synthesis(
    steps: StepBackend,
    buffer: Tensor,
    input_size: Sequence[int],
    predict: OperatorWeights,
    update: OperatorWeights,
    kernel_size: int,
    padding_mode: PaddingMode,
    channels_first: bool,
    activation: str = "tanh",
) -> Tensor:
    """Invert ``analysis``: the ``(2**n, N, S'..., C)`` buffer to ``(N, C, *input_size)``.

    ``channels_first``: return an NCHW-contiguous tensor (the last step writes it directly) rather than channels-last.
    """
    spatial_dims = len(input_size)
    padding = lifting_padding(kernel_size, padding_mode)
    for level in reversed(range(spatial_dims)):
        axis = buffer.ndim - 2 - level
        trailing = buffer.shape[axis + 1 : -1]
        pairs = buffer.unflatten(0, (2, buffer.shape[0] // 2))
        last = level == 0
        merged = steps.unlift_rows(
            _rows(pairs, axis + 1), padding=padding, predict=predict, update=update,
            channels_first=last and channels_first, activation=activation,
        )  # fmt: skip
        buffer = fit_length(_unrows(merged, trailing), axis, input_size[-1 - level])
    return buffer.squeeze(0).movedim(-1, 1)


def as_buffer(bands: Mapping[str, Tensor]) -> Tensor:
    """Band tensors ``(N, C, S'...)`` by name, stacked into one channels-last buffer in ``band_index`` order."""
    ordered = sorted(bands, key=band_index)
    return torch.stack([bands[name].movedim(1, -1) for name in ordered])
