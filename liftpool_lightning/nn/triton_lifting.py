"""The ``triton`` backend: the lifting steps as Triton kernels (``triton_kernels``) on CUDA, opt-in.

Off by default until ``benchmarks/gpu_check.sh`` has passed on a real GPU: ``LIFTPOOL_TRITON=1`` turns the kernels
on for CUDA tensors, each (device, dtype) self-checked against the PyTorch steps on first use
(``triton_self_check``), or ``backend_config.use_backend("triton")`` forces them (no self-check; on CPU tensors
through Triton's interpreter under ``TRITON_INTERPRET=1``, for the tests). Bands are written in the features' dtype
(bfloat16 stays bfloat16), everything is computed in float32, the losses are float32.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from liftpool_lightning.nn import backend_config, fused_lifting, triton_self_check
from liftpool_lightning.nn._step_common import (
    OperatorWeights,
    Padding,
    as_rows,
    input_rows,
    new_empty,
    op_padding,
    pack_weights,
    tap_sources,
    unlift_output,
    unpack_weights,
    write_rows,
)
from liftpool_lightning.nn.backend_base import StepBackend
from liftpool_lightning.nn.loss_precision import loss_dtype
from liftpool_lightning.nn.step_autograd import register_lift_autograd, register_unlift_autograd
from liftpool_lightning.nn.triton_kernels import triton

if triton is not None:
    from liftpool_lightning.nn.triton_kernels import (
        _lift_backward_kernel,
        _lift_forward_kernel,
        _unlift_backward_kernel,
        _unlift_forward_kernel,
    )

MAX_LENGTH = 1024  # half-length rows up to this are one program's tile; longer rows take the other backends
DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # computed in float32 inside; float64 takes the others


def available() -> bool:
    """Whether Triton is importable (the kernels still need a CUDA tensor, or ``TRITON_INTERPRET=1``)."""
    return triton is not None


def _block_sizes(n: int, channels: int) -> tuple[int, int]:
    block_n = max(16, triton.next_power_of_2(n))
    block_c = max(1, min(triton.next_power_of_2(channels), 4096 // block_n, 64))
    return block_n, block_c


@functools.lru_cache(maxsize=256)
def _tap_table(n: int, padding: Padding, device: torch.device) -> Tensor:
    """Source sample of each padded position (-1: a zero), as an int32 tensor on ``device``; cached per length."""
    return torch.tensor(tap_sources(n, padding), dtype=torch.int32, device=device)


def _on_device(x: Tensor) -> contextlib.AbstractContextManager:
    """Launch on ``x``'s GPU, not the current one (a model on ``cuda:1`` with the current device 0)."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def _flat_weights(predict: OperatorWeights, update: OperatorWeights, device: torch.device) -> list[Tensor]:
    """P's then U's parameters as float32 contiguous tensors (a placeholder for a missing bias)."""
    dummy = torch.zeros(1, dtype=torch.float32, device=device)
    return [dummy if w is None else w.detach().float().contiguous() for w in (*predict, *update)]


def _constants(predict: OperatorWeights, activation: str, block_n: int, block_c: int) -> dict:
    return {"K": predict.weight.shape[-1], "HAS_BIAS": predict.bias is not None,
            "HAS_PW_BIAS": predict.pointwise_bias is not None, "TANH": activation == "tanh", "BLOCK_N": block_n,
            "BLOCK_C": block_c}  # fmt: skip


def _own(t: Tensor, dtype: torch.dtype) -> Tensor:
    """A contiguous copy in ``dtype``: an op's results may not alias one another, and the fake functions promise
    contiguous gradients."""
    return t.to(dtype).clone(memory_format=torch.contiguous_format)


def _parameter_grads(partial: Tensor, predict: OperatorWeights, update: OperatorWeights) -> list[Tensor]:
    """P's then U's parameter gradients from the programs' partial sums ``(programs, 2 * (K + 3), C)`` (an empty
    tensor for a missing bias)."""
    kernel_size = predict.weight.shape[-1]
    sums = partial.sum(0)
    grads: list[Tensor] = []
    for offset, operator in ((0, predict), (kernel_size + 3, update)):
        block = sums[offset : offset + kernel_size + 3]
        weight, bias, pointwise_weight, pointwise_bias = operator
        grads += [
            _own(block[:kernel_size].t().reshape(weight.shape), weight.dtype),
            sums.new_empty(0) if bias is None else _own(block[kernel_size], bias.dtype),
            _own(block[kernel_size + 1].reshape(pointwise_weight.shape), pointwise_weight.dtype),
            sums.new_empty(0) if pointwise_bias is None else _own(block[kernel_size + 2], pointwise_bias.dtype),
        ]
    return grads


# ---------------------------------------------------------------------------------------------- launches
def lift_forward(
    x: Tensor, padding: Padding, with_losses: bool, predict: OperatorWeights, update: OperatorWeights,
    images: bool, activation: str,
) -> list[Tensor]:  # fmt: skip
    """[bands ``(2, *batch, n, R, C)`` (contiguous), c_u, c_p] of rows ``x`` (any strides; see ``as_rows``)."""
    rows = as_rows(x, images)
    x5 = input_rows(rows)
    b1, b2, length, r, c = x5.shape
    n = length // 2
    bands = x5.new_empty(2, b1, b2, n, r, c)
    block_n, block_c = _block_sizes(n, c)
    grid = (b1 * b2 * r, triton.cdiv(c, block_c))
    sums = torch.zeros(grid[0] * grid[1], 2, dtype=torch.float32, device=x.device)
    with _on_device(x):
        _lift_forward_kernel[grid](
            x5, bands, _tap_table(n, padding, x.device), sums, *_flat_weights(predict, update, x.device),
            b2, r, c, n, *x5.stride(), bands.stride(0), *bands.stride()[1:5],
            WITH_LOSSES=with_losses, **_constants(predict, activation, block_n, block_c),
        )  # fmt: skip
    dtype = loss_dtype(x.dtype)
    bands = bands.view(2, *rows.shape[:-3], n, r, c)
    if not with_losses:
        return [bands, x.new_zeros((), dtype=dtype), x.new_zeros((), dtype=dtype)]
    count = b1 * b2 * n * r * c
    return [bands, *(sums[:, i].sum().div(count).to(dtype) for i in range(2))]


def lift_backward(
    grad_bands: Tensor, grad_c_u: Tensor, grad_c_p: Tensor, x: Tensor, bands: Tensor, x_size: list[int],
    x_strides: list[int], padding: Padding, images: bool, activation: str, with_losses: bool,
    losses_reach_input: bool, predict: OperatorWeights, update: OperatorWeights,
) -> list[Tensor]:  # fmt: skip
    """[grad of x (laid out by ``x_strides``), grads of P's then U's parameters] for ``lift_forward``'s outputs."""
    x5 = input_rows(as_rows(x, images))
    b1, b2, length, r, c = x5.shape
    n = length // 2
    band_rows = bands.reshape(2, b1, b2, n, r, c)
    grads = grad_bands.reshape(2, b1, b2, n, r, c).contiguous()
    kernel_size = predict.weight.shape[-1]
    block_n, block_c = _block_sizes(n, c)
    grid = (b1 * b2 * r, triton.cdiv(c, block_c))
    scratch = torch.empty(3, b1, b2, n, r, c, dtype=torch.float32, device=x.device)
    partial = torch.empty(grid[0], 2 * (kernel_size + 3), c, dtype=torch.float32, device=x.device)
    loss_scales = torch.stack([grad_c_u.float(), grad_c_p.float()]) * (2.0 / (b1 * b2 * n * r * c))

    def launch(grad5: Tensor) -> None:  # grad5: a 5-D view of grad_x's rows, with its own strides
        with _on_device(x):
            _lift_backward_kernel[grid](
                x5, band_rows, grads, grad5, scratch, partial, _tap_table(n, padding, x.device), loss_scales,
                *_flat_weights(predict, update, x.device),
                b2, r, c, n, *x5.stride(), *grad5.stride(), band_rows.stride(0), *band_rows.stride()[1:5],
                LEFT=padding.left, WITH_LOSSES=with_losses, SPLIT=with_losses and not losses_reach_input,
                **_constants(predict, activation, block_n, block_c),
            )  # fmt: skip

    grad_x = new_empty(bands, x_size, x_strides)
    write_rows(grad_x, images, launch)
    return [grad_x, *_parameter_grads(partial, predict, update)]


def unlift_forward(
    bands: Tensor, padding: Padding, channels_first: bool, predict: OperatorWeights, update: OperatorWeights,
    activation: str,
) -> Tensor:  # fmt: skip
    """The inverse step: contiguous bands ``(2, *batch, n, R, C)`` to rows ``(*batch, 2n, R, C)``."""
    n, r, c = bands.shape[-3:]
    block_n, block_c = _block_sizes(n, c)

    def launch(target: Tensor) -> None:
        b1, b2 = target.shape[:2]
        band_rows = bands.view(2, b1, b2, n, r, c)  # the output's (B1, B2) split of the batch
        with _on_device(bands):
            _unlift_forward_kernel[(b1 * b2 * r, triton.cdiv(c, block_c))](
                band_rows, target, _tap_table(n, padding, bands.device), *_flat_weights(predict, update, bands.device),
                b2, r, c, n, *target.stride(), band_rows.stride(0), *band_rows.stride()[1:5],
                **_constants(predict, activation, block_n, block_c),
            )  # fmt: skip

    out = unlift_output(bands, channels_first)
    write_rows(out, False, launch)
    return out


def unlift_backward(
    grad_x: Tensor, bands: Tensor, padding: Padding, predict: OperatorWeights, update: OperatorWeights,
    activation: str,
) -> list[Tensor]:  # fmt: skip
    """[grad of the (contiguous) bands, grads of P's then U's parameters] for ``unlift_forward``."""
    n, r, c = bands.shape[-3:]
    grad5 = input_rows(grad_x)
    band_rows = bands.view(2, *grad5.shape[:2], n, r, c)
    b1, b2 = band_rows.shape[1:3]
    kernel_size = predict.weight.shape[-1]
    block_n, block_c = _block_sizes(n, c)
    grid = (b1 * b2 * r, triton.cdiv(c, block_c))
    grad_bands = torch.empty_like(bands)
    scratch = torch.empty(3, b1, b2, n, r, c, dtype=torch.float32, device=bands.device)
    partial = torch.empty(grid[0], 2 * (kernel_size + 3), c, dtype=torch.float32, device=bands.device)
    with _on_device(bands):
        _unlift_backward_kernel[grid](
            grad5, band_rows, grad_bands, scratch, partial, _tap_table(n, padding, bands.device),
            *_flat_weights(predict, update, bands.device),
            b2, r, c, n, *grad5.stride(), band_rows.stride(0), *band_rows.stride()[1:5],
            LEFT=padding.left, **_constants(predict, activation, block_n, block_c),
        )  # fmt: skip
    return [grad_bands, *_parameter_grads(partial, predict, update)]


# ---------------------------------------------------------------------------------------------- custom ops
def _guarded(x: Tensor, kernels: Callable[[], list[Tensor]], fallback: Callable[[], list[Tensor]]) -> list[Tensor]:
    """``kernels()``, or where they fail (or failed before on this device and dtype) ``fallback()``: the PyTorch
    steps' result, with one warning (``triton_self_check.record_failure``); forced kernels raise instead."""
    forced = "triton" in (backend_config.forced_backends() or ())
    if not forced and triton_self_check.failed(x.device, x.dtype):
        return fallback()
    try:
        return kernels()
    except Exception as error:
        if forced:
            raise
        triton_self_check.record_failure(x.device, x.dtype, error)
        return fallback()


@torch.library.custom_op("liftpool::triton_lift_rows", mutates_args=())
def _triton_lift(
    x: Tensor, images: bool, left: int, right: int, mode: str, activation: str, with_losses: bool,
    losses_reach_input: bool, weights: list[Tensor],
) -> list[Tensor]:  # fmt: skip
    """[bands (2, *batch, n, R, C), c_u, c_p]; ``x`` rows or, with ``images``, see ``as_rows``."""
    predict, update = unpack_weights(weights)
    padding = op_padding(left, right, mode)
    options = (images, left, right, mode, activation, with_losses, losses_reach_input)

    def fallback() -> list[Tensor]:
        return fused_lifting._lift_rows(x, *options, weights)[:3]

    return _guarded(x, lambda: lift_forward(x, padding, with_losses, predict, update, images, activation), fallback)


@_triton_lift.register_fake
def _(x, images, left, right, mode, activation, with_losses, losses_reach_input, weights):
    rows = as_rows(x, images)
    losses = [x.new_empty((), dtype=loss_dtype(x.dtype)) for _ in range(2)]
    return [x.new_empty(2, *rows.shape[:-3], rows.shape[-3] // 2, *rows.shape[-2:]), *losses]


@torch.library.custom_op("liftpool::triton_lift_rows_backward", mutates_args=())
def _triton_lift_backward(
    grad_bands: Tensor, grad_c_u: Tensor, grad_c_p: Tensor, x: Tensor, bands: Tensor, kept: list[Tensor],
    x_size: list[int], x_strides: list[int], images: bool, left: int, right: int, mode: str, activation: str,
    with_losses: bool, losses_reach_input: bool, weights: list[Tensor],
) -> list[Tensor]:  # fmt: skip
    """[grad of x (laid out by ``x_strides``), grads of P's then U's parameters (empty for a missing bias)]."""
    predict, update = unpack_weights(weights)
    padding = op_padding(left, right, mode)
    options = (images, left, right, mode, activation, with_losses, losses_reach_input)

    def fallback() -> list[Tensor]:  # the PyTorch steps' backward, their activations recomputed from x
        bands_again, _, _, *activations = fused_lifting._lift_rows(x, *options[:6], losses_reach_input, weights)
        return fused_lifting._lift_rows_backward(grad_bands, grad_c_u, grad_c_p, x, bands_again, activations, x_size,
                                                 x_strides, *options, weights)  # fmt: skip

    def kernels() -> list[Tensor]:
        return lift_backward(grad_bands, grad_c_u, grad_c_p, x, bands, x_size, x_strides, padding, images, activation,
                             with_losses, losses_reach_input, predict, update)  # fmt: skip

    return _guarded(x, kernels, fallback)


@_triton_lift_backward.register_fake
def _(grad_bands, grad_c_u, grad_c_p, x, bands, kept, x_size, x_strides, images, left, right, mode, activation,
      with_losses, losses_reach_input, weights):  # fmt: skip
    return [new_empty(bands, x_size, x_strides), *(w.new_empty(w.shape) for w in weights)]


register_lift_autograd(_triton_lift, _triton_lift_backward)


@torch.library.custom_op("liftpool::triton_unlift_rows", mutates_args=())
def _triton_unlift(
    bands: Tensor, left: int, right: int, mode: str, activation: str, channels_first: bool, weights: list[Tensor]
) -> list[Tensor]:
    """[rows ``(*batch, 2n, R, C)``] from contiguous ``bands`` ``(2, *batch, n, R, C)``."""
    predict, update = unpack_weights(weights)
    padding = op_padding(left, right, mode)
    return _guarded(
        bands,
        lambda: [unlift_forward(bands, padding, channels_first, predict, update, activation)],
        lambda: fused_lifting._unlift_rows(bands, left, right, mode, activation, channels_first, weights)[:1],
    )


@_triton_unlift.register_fake
def _(bands, left, right, mode, activation, channels_first, weights):
    return [unlift_output(bands, channels_first)]


@torch.library.custom_op("liftpool::triton_unlift_rows_backward", mutates_args=())
def _triton_unlift_backward(
    grad_x: Tensor, bands: Tensor, kept: list[Tensor], left: int, right: int, mode: str, activation: str,
    weights: list[Tensor],
) -> list[Tensor]:  # fmt: skip
    """[grad of bands, grads of P's then U's parameters (empty for a missing bias)]; P and U recomputed."""
    predict, update = unpack_weights(weights)
    padding = op_padding(left, right, mode)

    def fallback() -> list[Tensor]:
        _, *activations = fused_lifting._unlift_rows(bands, left, right, mode, activation, False, weights)
        return fused_lifting._unlift_rows_backward(grad_x, bands, activations, left, right, mode, activation, weights)

    return _guarded(bands, lambda: unlift_backward(grad_x, bands, padding, predict, update, activation), fallback)


@_triton_unlift_backward.register_fake
def _(grad_x, bands, kept, left, right, mode, activation, weights):
    return [torch.empty_like(bands), *(w.new_empty(w.shape) for w in weights)]


register_unlift_autograd(_triton_unlift, _triton_unlift_backward)


# ---------------------------------------------------------------------------------------------- the backend
class TritonKernels(StepBackend):
    """The Triton kernels: CUDA float32/bfloat16/float16 rows of up to ``MAX_LENGTH`` samples per half; opt-in."""

    name = "triton"

    def input_reasons(self, x: Tensor, half_lengths: Sequence[int], *, forced: bool) -> list[str]:
        if not available():
            return ["Triton is not installed"]
        if not (x.is_cuda or (x.device.type == "cpu" and backend_config.triton_interpreted())):
            return [f"a {x.device.type} tensor (Triton runs on CUDA, and on CPU through TRITON_INTERPRET=1)"]
        if x.dtype not in DTYPES:
            return [f"{x.dtype} (the Triton kernels take float32, bfloat16 and float16)"]
        if max(half_lengths, default=0) > MAX_LENGTH:
            return [f"a pooled axis of {max(half_lengths)} samples (the kernels take up to {MAX_LENGTH})"]
        if forced:
            return []
        if not backend_config.triton_enabled():
            return ["off by default until benchmarks/gpu_check.sh has passed on a GPU: set LIFTPOOL_TRITON=1"]
        failure = triton_self_check.verdict(str(x.device), str(x.dtype).removeprefix("torch."))
        return [f"failed on {x.device} {x.dtype}: {failure}"] if failure else []

    def lift_rows(
        self, x: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights, with_losses: bool,
        images: bool = False, losses_reach_input: bool = False, activation: str = "tanh",
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        flat = pack_weights(predict, update, x)
        bands, c_u, c_p = _triton_lift(x, images, *padding, activation, with_losses, losses_reach_input, flat)
        return bands, c_u, c_p

    def unlift_rows(
        self, bands: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights,
        channels_first: bool = False, activation: str = "tanh",
    ) -> Tensor:  # fmt: skip
        flat = pack_weights(predict, update, bands)
        return _triton_unlift(bands.contiguous(), *padding, activation, channels_first, flat)[0]


BACKEND = TritonKernels()
