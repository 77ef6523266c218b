"""The lifting steps of the default learned P/U (depthwise K-tap and depthwise 1-tap convolutions) as PyTorch ops:
the ``pytorch`` backend, for every device and dtype (the default on CUDA; on CPU where the C++ kernels are off).

The generic path (``lifting.py`` + ``operators.py``) leaves the backward to autograd, which costs far more than the
arithmetic on a CPU (the docs' performance page has the measurements). So this backend:

* works on rows ``(*batch, L, R, C)`` (``_step_common``): P and U run as ``K x 1`` and ``1 x 1`` depthwise
  convolutions on channels-last views of contiguous rows; on CPU each is one oneDNN call with its activation fused;
* has a hand-written backward that makes one pass per step where autograd makes several, and keeps per P/U only its
  padded input, ``relu`` output and last output (the update constraint's residual ``s - x_o`` is recomputed);
* writes a step's outputs into one buffer ``(2, *batch, L/2, R, C)`` (low, high), so the next axis lifts both bands
  with the shared weights as one batch, without a copy.

Each step is a ``torch.library`` custom op with an autograd formula (``step_autograd``) and a fake (shape) function,
so ``torch.compile`` keeps it as one node. Both directions evaluate P and U with the same code, so a LiftUpPool
inverts a LiftDownPool exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, NamedTuple, overload

import torch
import torch.nn.functional as F
from torch import Tensor

from liftpool_lightning.nn._step_common import (
    OperatorWeights,
    Padding,
    as_rows,
    border_sources,
    new_empty,
    op_padding,
    pack_weights,
    register_float32_autocast,
    unlift_output,
    unpack_weights,
)
from liftpool_lightning.nn.backend_base import StepBackend
from liftpool_lightning.nn.loss_precision import loss_dtype, mean_square_value
from liftpool_lightning.nn.step_autograd import register_lift_autograd, register_unlift_autograd


def _pad_rows(z: Tensor, padding: Padding) -> Tensor:
    """``z`` (``*batch, n, R, C``, any strides) extended along ``n``; a new contiguous tensor."""
    n, dim = z.shape[-3], z.ndim - 3
    out = z.new_empty(*z.shape[:-3], padding.left + n + padding.right, *z.shape[-2:])
    out.narrow(dim, padding.left, n).copy_(z)
    if padding.mode == "zeros":
        out.narrow(dim, 0, padding.left).zero_()
        out.narrow(dim, padding.left + n, padding.right).zero_()
    for position, source in border_sources(n, padding):
        out.select(dim, position).copy_(z.select(dim, source))
    return out


def _add_unpadded(
    base: Tensor, grad_padded: Tensor, padding: Padding, alpha: float = 1.0, out: Tensor | None = None
) -> Tensor:
    """``base + alpha * g`` where ``g`` is the gradient of ``_pad_rows`` for ``grad_padded`` (border folded back)."""
    n, dim = base.shape[-3], base.ndim - 3
    result = torch.add(base, grad_padded.narrow(dim, padding.left, n), alpha=alpha, out=out)
    for position, source in border_sources(n, padding):
        result.select(dim, source).add_(grad_padded.select(dim, position), alpha=alpha)
    return result


def _as_images(rows: Tensor) -> Tensor:
    """Contiguous rows ``(*batch, L, R, C)`` as an NCHW tensor with channels-last strides: ``(B, C, L, R)``."""
    return rows.reshape(-1, *rows.shape[-3:]).permute(0, 3, 1, 2)


def _images_to_rows(images: Tensor, batch: torch.Size) -> Tensor:
    return images.permute(0, 2, 3, 1).contiguous().view(*batch, *images.shape[2:], images.shape[1])


def _onednn(x: Tensor) -> bool:
    """Whether oneDNN's fused convolution + activation ops serve ``x`` (CPU, float32, or bfloat16 where the CPU has
    oneDNN's bfloat16 instructions (AVX-512), oneDNN enabled)."""
    return (
        x.device.type == "cpu"
        and (x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and _onednn_bfloat16()))
        and torch.backends.mkldnn.is_available()
        and bool(torch.backends.mkldnn.enabled)  # a bool at run time; typed as the module's ContextProp descriptor
    )


@functools.cache
def _onednn_bfloat16() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _conv_activation(images: Tensor, kernel: Tensor, bias: Tensor | None, activation: str) -> Tensor:
    """``activation(depthwise_conv(images))`` for ``relu`` / ``tanh`` / ``identity``; one fused oneDNN call on
    CPU."""
    channels = images.shape[1]
    if _onednn(images):
        attr = "none" if activation == "identity" else activation
        return torch.ops.mkldnn._convolution_pointwise(
            images, kernel, bias, [0, 0], [1, 1], [1, 1], channels, attr, [], ""
        )
    out = F.conv2d(images, kernel, bias, groups=channels)
    if activation == "identity":
        return out
    return torch.relu_(out) if activation == "relu" else torch.tanh_(out)


class _Activations(NamedTuple):
    """What the backward of one P or U reads: its padded input, ``relu(conv_K)`` and output (rows)."""

    padded: Tensor
    hidden: Tensor
    value: Tensor


def _kernels(weights: OperatorWeights) -> tuple[Tensor, Tensor]:
    channels = weights.weight.shape[0]
    return weights.weight.view(channels, 1, -1, 1), weights.pointwise_weight.view(channels, 1, 1, 1)


def _operator(signal: Tensor, weights: OperatorWeights, padding: Padding, activation: str) -> _Activations:
    """P or U on rows ``signal``: ``activation(pointwise(relu(conv_K(pad(signal)))))``, with what its backward
    needs."""
    batch = signal.shape[:-3]
    padded = _pad_rows(signal, padding)
    kernel, pointwise = _kernels(weights)
    hidden = _conv_activation(_as_images(padded), kernel, weights.bias, "relu")
    value = _conv_activation(hidden, pointwise, weights.pointwise_bias, activation)
    return _Activations(padded, _images_to_rows(hidden, batch), _images_to_rows(value, batch))


def _conv_backward(
    grad: Tensor, images: Tensor, kernel: Tensor, bias: bool, input: bool = True, parameters: bool = True
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    channels = images.shape[1]
    return torch.ops.aten.convolution_backward(
        grad, images, kernel, [channels] if bias else None, [1, 1], [0, 0], [1, 1], False, [0, 0], channels,
        [input, parameters, parameters and bias],
    )  # fmt: skip


def _computed(grad: Tensor | None, what: str) -> Tensor:
    """A gradient ``convolution_backward`` was asked for (its output mask set), so never None."""
    if grad is None:
        raise RuntimeError(f"convolution_backward gave no {what} gradient although it was asked for one")
    return grad


@overload
def _operator_backward(
    grad: Tensor,
    saved: _Activations,
    weights: OperatorWeights,
    activation: str,
    sign: float,
    input: Literal[True] = True,
    parameters: bool = True,
) -> tuple[Tensor, list[Tensor]]: ...
@overload
def _operator_backward(
    grad: Tensor,
    saved: _Activations,
    weights: OperatorWeights,
    activation: str,
    sign: float,
    input: Literal[False],
    parameters: bool = True,
) -> tuple[None, list[Tensor]]: ...
def _operator_backward(
    grad: Tensor, saved: _Activations, weights: OperatorWeights, activation: str, sign: float, input: bool = True,
    parameters: bool = True,
) -> tuple[Tensor | None, list[Tensor]]:  # fmt: skip
    """Gradients of ``sign * operator`` given ``grad`` of its output: the padded input's (of the operator itself,
    without ``sign``; None unless ``input``), and, with ``parameters`` (else an empty list), ``sign`` times those of
    the conv weight and bias and the pointwise weight and bias (an empty tensor for a missing bias)."""
    batch = saved.padded.shape[:-3]
    kernel, pointwise = _kernels(weights)
    if activation == "tanh":
        grad_value = torch.ops.aten.tanh_backward.grad_input(grad, saved.value, grad_input=torch.empty_like(grad))
    else:
        grad_value = grad
    hidden = _as_images(saved.hidden)
    if parameters:
        grad_hidden, grad_pointwise, grad_pointwise_bias = _conv_backward(
            _as_images(grad_value), hidden, pointwise, weights.pointwise_bias is not None
        )
    else:  # a depthwise 1x1 convolution's input gradient is a per-channel scale
        scale = weights.pointwise_weight.view(1, -1, 1, 1)
        grad_hidden = _as_images(grad_value) * scale if grad_value is grad else _as_images(grad_value).mul_(scale)
    grad_hidden = torch.ops.aten.threshold_backward.grad_input(grad_hidden, hidden, 0, grad_input=grad_hidden)
    grad_padded, grad_kernel, grad_bias = _conv_backward(
        grad_hidden, _as_images(saved.padded), kernel, weights.bias is not None, input, parameters
    )
    grad_input = None if grad_padded is None else _images_to_rows(grad_padded, batch)
    grad_parameters: list[Tensor] = []
    if parameters:
        grad_kernel = _computed(grad_kernel, "conv weight")
        grads = (
            grad_kernel.view_as(weights.weight),
            grad_bias,
            _computed(grad_pointwise, "pointwise weight").view_as(weights.pointwise_weight),
            grad_pointwise_bias,
        )
        grad_parameters = [grad_kernel.new_empty(0) if g is None else g * sign for g in grads]
    return grad_input, grad_parameters


def _even_odd(x: Tensor) -> tuple[Tensor, Tensor]:
    pairs = x.unflatten(x.ndim - 3, (x.shape[-3] // 2, 2))
    return pairs.select(-3, 0), pairs.select(-3, 1)


def _activation_shapes(half: torch.Size, padding_left: int, padding_right: int) -> list[tuple[int, ...]]:
    """Shapes of (padded, hidden, value) of P then U for a step whose half-length rows are ``half`` (fake ops)."""
    padded = (*half[:-3], padding_left + half[-3] + padding_right, *half[-2:])
    return [padded, tuple(half), tuple(half)] * 2


# ---------------------------------------------------------------------------------------------- forward step
@torch.library.custom_op("liftpool::lift_rows", mutates_args=())
def _lift_rows(
    x: Tensor,
    images: bool,
    left: int,
    right: int,
    mode: str,
    activation: str,
    with_losses: bool,
    losses_reach_input: bool,
    weights: list[Tensor],
) -> list[Tensor]:
    """[bands, c_u, c_p, (padded, hidden, value) of P, of U]; ``x`` rows or, with ``images``, see ``as_rows``."""
    x = as_rows(x, images)
    padding = op_padding(left, right, mode)
    predict, update = unpack_weights(weights)
    even, odd = _even_odd(x)
    bands = x.new_empty(2, *even.shape)
    at_p = _operator(even, predict, padding, activation)
    d = torch.sub(odd, at_p.value, out=bands[1])
    at_u = _operator(d, update, padding, activation)
    even_dense = at_p.padded.narrow(x.ndim - 3, left, even.shape[-3])  # x_e again, read densely (x may be NCHW)
    s = torch.add(even_dense, at_u.value, out=bands[0])
    if with_losses:
        same_dtype = x.dtype == loss_dtype(x.dtype)  # float32/64: one pass; float16/bfloat16: accumulated in float32
        c_u = F.mse_loss(s, odd) if same_dtype else mean_square_value(s - odd)
        c_p = mean_square_value(d)
    else:
        c_u, c_p = x.new_zeros((), dtype=loss_dtype(x.dtype)), x.new_zeros((), dtype=loss_dtype(x.dtype))
    return [bands, c_u, c_p, *at_p, *at_u]


@_lift_rows.register_fake
def _(x, images, left, right, mode, activation, with_losses, losses_reach_input, weights):
    even, _ = _even_odd(as_rows(x, images))
    activations = [x.new_empty(shape) for shape in _activation_shapes(even.shape, left, right)]
    losses = [x.new_empty((), dtype=loss_dtype(x.dtype)) for _ in range(2)]
    return [x.new_empty(2, *even.shape), *losses, *activations]


@torch.library.custom_op("liftpool::lift_rows_backward", mutates_args=())
def _lift_rows_backward(
    grad_bands: Tensor,
    grad_c_u: Tensor,
    grad_c_p: Tensor,
    x: Tensor,
    bands: Tensor,
    kept: list[Tensor],
    x_size: list[int],
    x_strides: list[int],
    images: bool,
    left: int,
    right: int,
    mode: str,
    activation: str,
    with_losses: bool,
    losses_reach_input: bool,
    weights: list[Tensor],
) -> list[Tensor]:
    """[grad of x (laid out by ``x_strides``), grads of P's then U's parameters (empty for a missing bias)];
    ``kept``: P's and U's activations; ``x``: the step's input, an empty tensor without losses.

    Without ``losses_reach_input`` the losses' gradients go into the parameters only: P and U are differentiated for
    two upstream gradients, the total (for their parameters) and the bands' alone (for x)."""
    padding = op_padding(left, right, mode)
    at_p, at_u = _Activations(*kept[:3]), _Activations(*kept[3:])
    predict, update = unpack_weights(weights)
    d = bands[1]
    grad_s, grad_d = grad_bands[0], grad_bands[1]
    scale = 2.0 / d.numel()
    if with_losses:  # c_u = mean((s - x_o)^2), c_p = mean(d^2); s - x_o recomputed rather than kept
        difference = bands[0] - _even_odd(as_rows(x, images))[1]
        grad_s = torch.addcmul(grad_s, difference, grad_c_u * scale)
        grad_d = torch.addcmul(grad_d, d, grad_c_p * scale)
    if with_losses and not losses_reach_input:
        return _lift_backward_to_operators(grad_bands, grad_s, grad_d, at_p, at_u, predict, update, padding, activation,
                                           x_size, x_strides, images)  # fmt: skip
    grad_d_padded, grad_update = _operator_backward(grad_s, at_u, update, activation, 1.0)  # s = x_e + U(d)
    grad_d = _add_unpadded(grad_d, grad_d_padded, padding)
    del grad_d_padded
    grad_even_padded, grad_predict = _operator_backward(grad_d, at_p, predict, activation, -1.0)  # d = x_o - P(x_e)
    grad_x = new_empty(bands, x_size, x_strides)
    grad_even, grad_odd = _even_odd(as_rows(grad_x, images))
    _add_unpadded(grad_s, grad_even_padded, padding, alpha=-1.0, out=grad_even)
    if with_losses:
        torch.addcmul(grad_d, difference, grad_c_u * -scale, out=grad_odd)
    else:
        grad_odd.copy_(grad_d)
    return [grad_x, *grad_predict, *grad_update]


def _lift_backward_to_operators(
    grad_bands: Tensor,
    grad_s: Tensor,
    grad_d: Tensor,
    at_p: _Activations,
    at_u: _Activations,
    predict: OperatorWeights,
    update: OperatorWeights,
    padding: Padding,
    activation: str,
    x_size: list[int],
    x_strides: list[int],
    images: bool,
) -> list[Tensor]:
    """The backward for losses whose gradients reach P and U only: ``grad_s``/``grad_d`` hold the bands' gradients
    plus the losses', which train the parameters; x gets the chain of ``grad_bands`` alone."""
    band_s, band_d = grad_bands[0], grad_bands[1]
    grad_d_padded, grad_update = _operator_backward(grad_s, at_u, update, activation, 1.0)  # s = x_e + U(d)
    grad_d = _add_unpadded(grad_d, grad_d_padded, padding)
    band_d_padded, _ = _operator_backward(band_s, at_u, update, activation, 1.0, parameters=False)
    band_d = _add_unpadded(band_d, band_d_padded, padding)
    del grad_d_padded, band_d_padded
    _, grad_predict = _operator_backward(grad_d, at_p, predict, activation, -1.0, input=False)  # d = x_o - P(x_e)
    band_even_padded, _ = _operator_backward(band_d, at_p, predict, activation, -1.0, parameters=False)
    grad_x = new_empty(grad_bands, x_size, x_strides)
    grad_even, grad_odd = _even_odd(as_rows(grad_x, images))
    _add_unpadded(band_s, band_even_padded, padding, alpha=-1.0, out=grad_even)
    grad_odd.copy_(band_d)
    return [grad_x, *grad_predict, *grad_update]


@_lift_rows_backward.register_fake
def _(grad_bands, grad_c_u, grad_c_p, x, bands, kept, x_size, x_strides, images, left, right, mode, activation,
      with_losses, losses_reach_input, weights):  # fmt: skip
    grads = [grad_bands.new_empty(w.shape) for w in weights]
    return [new_empty(grad_bands, x_size, x_strides), *grads]


register_lift_autograd(_lift_rows, _lift_rows_backward, needs_input=False)  # the losses' gradients read x_o


# ---------------------------------------------------------------------------------------------- inverse step
@torch.library.custom_op("liftpool::unlift_rows", mutates_args=())
def _unlift_rows(
    bands: Tensor, left: int, right: int, mode: str, activation: str, channels_first: bool, weights: list[Tensor]
) -> list[Tensor]:
    """[x, (padded, hidden, value) of P, of U]: the inverse step ``x_e = s - U(d)``, ``x_o = d + P(x_e)``."""
    padding = op_padding(left, right, mode)
    predict, update = unpack_weights(weights)
    s, d = bands[0], bands[1]
    x = unlift_output(bands, channels_first)
    even, odd = _even_odd(x)
    at_u = _operator(d, update, padding, activation)
    torch.sub(s, at_u.value, out=even)
    at_p = _operator(even, predict, padding, activation)
    torch.add(d, at_p.value, out=odd)
    return [x, *at_p, *at_u]


@_unlift_rows.register_fake
def _(bands, left, right, mode, activation, channels_first, weights):
    activations = [bands.new_empty(shape) for shape in _activation_shapes(bands.shape[1:], left, right)]
    return [unlift_output(bands, channels_first), *activations]


@torch.library.custom_op("liftpool::unlift_rows_backward", mutates_args=())
def _unlift_rows_backward(
    grad_x: Tensor, bands: Tensor, kept: list[Tensor], left: int, right: int, mode: str, activation: str,
    weights: list[Tensor],
) -> list[Tensor]:  # fmt: skip
    """[grad of bands, grads of P's then U's parameters (empty for a missing bias)]; ``kept``: the activations."""
    padding = op_padding(left, right, mode)
    at_p, at_u = _Activations(*kept[:3]), _Activations(*kept[3:])
    predict, update = unpack_weights(weights)
    grad_even, grad_odd = _even_odd(grad_x)
    grad_bands = grad_x.new_empty(2, *grad_even.shape)
    grad_even_padded, grad_predict = _operator_backward(grad_odd, at_p, predict, activation, 1.0)  # x_o = d + P(x_e)
    grad_s = _add_unpadded(grad_even, grad_even_padded, padding, out=grad_bands[0])  # x_e = s - U(d)
    del grad_even_padded
    grad_d_padded, grad_update = _operator_backward(grad_s, at_u, update, activation, -1.0)
    _add_unpadded(grad_odd, grad_d_padded, padding, alpha=-1.0, out=grad_bands[1])
    return [grad_bands, *grad_predict, *grad_update]


@_unlift_rows_backward.register_fake
def _(grad_x, bands, kept, left, right, mode, activation, weights):
    grad_even, _ = _even_odd(grad_x)
    grads = [grad_x.new_empty(w.shape) for w in weights]
    return [grad_x.new_empty(2, *grad_even.shape), *grads]


register_unlift_autograd(_unlift_rows, _unlift_rows_backward, needs_input=False)
register_float32_autocast(_lift_rows, _lift_rows_backward, _unlift_rows, _unlift_rows_backward)


# ---------------------------------------------------------------------------------------------- the backend
class PytorchSteps(StepBackend):
    """The steps as PyTorch ops (cuDNN/oneDNN convolutions inside custom ops): any device and dtype; the default on
    CUDA, and on CPU where the C++ kernels are off."""

    name = "pytorch"

    def input_reasons(self, x: Tensor, half_lengths: Sequence[int], *, forced: bool) -> list[str]:
        return []

    def lift_rows(
        self, x: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights, with_losses: bool,
        images: bool = False, losses_reach_input: bool = False, activation: str = "tanh",
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        flat = pack_weights(predict, update, x)
        bands, c_u, c_p, *_ = _lift_rows(x, images, *padding, activation, with_losses, losses_reach_input, flat)
        return bands, c_u, c_p

    def unlift_rows(
        self, bands: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights,
        channels_first: bool = False, activation: str = "tanh",
    ) -> Tensor:  # fmt: skip
        flat = pack_weights(predict, update, bands)
        return _unlift_rows(bands.contiguous(), *padding, activation, channels_first, flat)[0]


BACKEND = PytorchSteps()
