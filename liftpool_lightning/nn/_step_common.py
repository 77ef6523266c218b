"""What every backend of the lifting steps shares: the P/U weights and their packing into an op's flat list, the
padding tables, the row layouts, and the guard against a second backward.

A step works on **rows** ``(*batch, L, R, C)``: ``L`` the lifted axis, ``R`` the axes lifted before (flattened),
channels innermost. Its results are a band buffer ``(2, *batch, L/2, R, C)`` (low, high).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple, TypeVar, cast

import torch
from torch import Tensor

from liftpool_lightning.nn.constants import PaddingMode
from liftpool_lightning.nn.padding import padding_index

_T = TypeVar("_T")


class OperatorWeights(NamedTuple):
    """The parameters of a depthwise learned P or U (``LearnedLiftingOperator``)."""

    weight: Tensor  # (C, 1, K)
    bias: Tensor | None  # (C,)
    pointwise_weight: Tensor  # (C, 1)
    pointwise_bias: Tensor | None  # (C,)


class Padding(NamedTuple):
    """Samples added before (``left``) and after (``right``) a signal for a "same"-length K-tap P/U."""

    left: int
    right: int
    mode: PaddingMode


def op_padding(left: int, right: int, mode: str) -> Padding:
    """The ``Padding`` of a custom op's arguments (an op's schema types the mode as a ``str``)."""
    return Padding(left, right, cast(PaddingMode, mode))


def lifting_padding(kernel_size: int, mode: PaddingMode) -> Padding:
    """The padding of ``LearnedLiftingOperator``: ``(K-1)//2`` before, ``K//2`` after."""
    return Padding((kernel_size - 1) // 2, kernel_size // 2, mode)


def pack_weights(predict: OperatorWeights, update: OperatorWeights, like: Tensor) -> list[Tensor]:
    """P's then U's parameters as an op's flat tensor list; an empty tensor stands for a missing bias."""
    return [like.new_empty(0) if t is None else t for t in (*predict, *update)]


def _operator_weights(
    weight: Tensor, bias: Tensor, pointwise_weight: Tensor, pointwise_bias: Tensor
) -> OperatorWeights:
    return OperatorWeights(
        weight, bias if bias.numel() else None, pointwise_weight, pointwise_bias if pointwise_bias.numel() else None
    )


def unpack_weights(tensors: list[Tensor]) -> tuple[OperatorWeights, OperatorWeights]:
    """``pack_weights`` undone."""
    return _operator_weights(*tensors[:4]), _operator_weights(*tensors[4:])


# ---------------------------------------------------------------------------------------------- padding tables
@functools.lru_cache(maxsize=256)
def border_sources(n: int, padding: Padding) -> tuple[tuple[int, int], ...]:
    """(position in the padded signal, source sample) of every border sample; none for ``zeros``. Cached: a layer
    asks for the same few lengths at every step."""
    if padding.mode == "zeros":
        return ()
    index = padding_index(n, padding.left, padding.right, padding.mode, torch.device("cpu")).tolist()
    positions = [*range(padding.left), *range(padding.left + n, padding.left + n + padding.right)]
    return tuple((position, index[position]) for position in positions)


@functools.lru_cache(maxsize=256)
def tap_sources(n: int, padding: Padding) -> tuple[int, ...]:
    """Source sample of each of the ``n + K - 1`` samples of the padded signal; -1 for a zero."""
    sources = [-1] * (padding.left + n + padding.right)
    sources[padding.left : padding.left + n] = range(n)
    for position, source in border_sources(n, padding):
        sources[position] = source
    return tuple(sources)


# ---------------------------------------------------------------------------------------------- row layouts
def as_rows(x: Tensor, images: bool) -> Tensor:
    """Rows ``(N, *S[:-1], L, 1, C)`` of an ``(N, C, *S)`` input lifted along its last axis (``images``), else ``x``.

    The first step of a ladder takes the layer's input as it is (``images``) rather than this channels-last view of
    it: under torch.compile a view handed to a custom op is materialised as a transposing copy."""
    return x.movedim(1, -1).unsqueeze(-2) if images else x


def dense_strides(x: Tensor) -> list[int]:
    """``x``'s strides when they lay it out densely in some dimension order (e.g. a permuted view of an NCHW
    tensor), else ``[]`` (meaning contiguous): the layout of a gradient that matches ``x``'s where it can."""
    expected = 1
    for size, stride in sorted(zip(x.shape, x.stride(), strict=True), key=lambda item: item[1]):
        if size != 1 and stride != expected:
            return []
        expected *= size
    return list(x.stride())


def new_empty(reference: Tensor, size: list[int], strides: list[int]) -> Tensor:
    """An empty tensor like ``reference`` of ``size``, laid out by ``strides`` (``[]``: contiguous)."""
    if not strides:
        return reference.new_empty(size)
    return torch.empty_strided(size, strides, dtype=reference.dtype, device=reference.device)


def unlift_output(bands: Tensor, channels_first: bool) -> Tensor:
    """Empty rows ``(*batch, 2n, R, C)`` for the inverse of ``bands`` ``(2, *batch, n, R, C)``; ``channels_first``
    puts the channels after ``batch[:2]`` in memory (``batch`` is ``(2**l, N, ...)`` in a ladder), so that the
    last step of a LiftUpPool writes an NCHW-contiguous output."""
    batch, (n, rest, channels) = bands.shape[1:-3], bands.shape[-3:]
    if channels_first:
        return bands.new_empty(*batch[:2], channels, *batch[2:], 2 * n, rest).movedim(2, -1)
    return bands.new_empty(*batch, 2 * n, rest, channels)


def five_d(rows: Tensor) -> Tensor | None:
    """Rows ``(*batch, L, R, C)`` as a ``(B1, B2, L, R, C)`` view (the layout the kernels index with five strides),
    or None where no view merges the batch axes."""
    batch, tail = rows.shape[:-3], rows.shape[-3:]
    if len(batch) <= 2:
        return rows.view(*([1] * (2 - len(batch))), *batch, *tail)
    for split in range(1, len(batch)):
        try:
            return rows.view(batch[:split].numel(), batch[split:].numel(), *tail)
        except RuntimeError:
            continue
    return None


def _five_d_view(rows: Tensor) -> Tensor:
    """``five_d`` of rows known to have such a view (a contiguous tensor, or the rows of one)."""
    view = five_d(rows)
    if view is None:
        raise RuntimeError(f"rows of shape {tuple(rows.shape)} and strides {rows.stride()} have no 5-D view")
    return view


def input_rows(rows: Tensor) -> Tensor:
    """``five_d`` of rows a kernel reads; of a contiguous copy where no view exists."""
    view = five_d(rows)
    return view if view is not None else _five_d_view(rows.contiguous())


def write_rows(out: Tensor, images: bool, kernel: Callable[[Tensor], _T]) -> _T:
    """``kernel(rows)`` with a 5-D view of ``out``'s rows (``as_rows``) to write into, indexed by that view's own
    strides; where no view exists, into a contiguous buffer copied to ``out`` afterwards, so ``out`` keeps the
    layout the fake functions promise."""
    view = five_d(as_rows(out, images))
    if view is not None:
        return kernel(view)
    buffer = torch.empty_like(out, memory_format=torch.contiguous_format)
    result = kernel(_five_d_view(as_rows(buffer, images)))
    out.copy_(buffer)
    return result


# ---------------------------------------------------------------------------------------------- op registration
def no_double_backward(ctx, *grads):
    """The autograd formula of every backward op: the kernel-backed steps are differentiable once."""
    raise RuntimeError(
        "LiftPool's fused path is differentiable once; for double backward (e.g. a gradient penalty) build the "
        "layer with fused=False"
    )


def register_float32_autocast(*ops: torch.library.CustomOpDef) -> None:
    """Under autocast the steps run in float32 (their inputs cast up, results float32), as autocast does for
    reductions and losses: P/U's tanh and the constraint losses' sums need the precision, and the weights stay
    float32. Without this rule the convolutions inside the ops would be autocast to bfloat16 while their fake
    functions promise the input's dtype, and the backward would meet mixed dtypes."""
    for op in ops:
        for device in ("cpu", "cuda"):
            op.register_autocast(device, torch.float32)
