"""Fast lifting steps for the default learned P/U (depthwise K-tap and depthwise 1-tap convolutions), in PyTorch.

On CPU in float32/float64 the C++ kernels of ``native_lifting`` take these steps over when they are built (one loop
per step instead of the ~25 calls below); this module serves GPUs, bfloat16, and CPUs where the build failed.

The generic path (``lifting.py`` + ``operators.py``) serves every configuration and leaves the backward to
autograd. On a CPU that costs far more than the arithmetic. Measured on 2 cores (torch 2.14, float32, one
64x64x32x32 layer): the backward of a depthwise ``1 x K`` convolution of an NCHW tensor takes 61 ms, the same
convolution as ``K x 1`` on a channels-last tensor 0.4 ms; ``tanh`` alone takes 3.4 ms, oneDNN's 1x1 convolution
with a fused ``tanh`` 0.8 ms; and each extra elementwise pass over a half-size tensor costs 1-3 ms once the layer's
tensors no longer fit in cache. So this module:

* works on **rows**: tensors ``(*batch, L, R, C)`` with channels innermost, ``L`` the lifted axis and ``R`` the axes
  lifted before (flattened). P and U run as ``K x 1`` and ``1 x 1`` depthwise convolutions on channels-last views of
  contiguous rows; on CPU each is one oneDNN call with its activation fused (``relu``, ``tanh``);
* has a hand-written backward that makes one pass per step where autograd makes several (no fills, no scatters,
  gradients written interleaved in place), and keeps per P/U only its padded input, ``relu`` output and ``tanh``
  output (the update constraint's residual ``s - x_o`` is recomputed from the step's input, which the layers around
  keep anyway);
* writes a step's outputs into one buffer ``(2, *batch, L/2, R, C)`` (low, high), so the next axis lifts both bands
  with the shared weights as one batch, without a copy.

Each step is a ``torch.library`` custom op with a registered autograd formula and fake (shape) function, so
``torch.compile`` keeps it as one opaque node (no graph break) and runs these kernels. Both directions evaluate P and
U with the same code, so a LiftUpPool inverts a LiftDownPool exactly. ``tests/nn/test_fused_lifting.py`` checks
values and gradients against the generic path.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from liftpool_lightning.nn.constants import PaddingMode
from liftpool_lightning.nn.loss_precision import loss_dtype, mean_square_value
from liftpool_lightning.nn.padding import padding_index


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


def lifting_padding(kernel_size: int, mode: PaddingMode) -> Padding:
    """The padding of ``LearnedLiftingOperator``: ``(K-1)//2`` before, ``K//2`` after."""
    return Padding((kernel_size - 1) // 2, kernel_size // 2, mode)


# ---------------------------------------------------------------------------------------------- kernels on rows
@functools.lru_cache(maxsize=256)
def _border_sources(n: int, padding: Padding) -> tuple[tuple[int, int], ...]:
    """(position in the padded signal, source sample) of every border sample; none for ``zeros``. Cached: a layer
    asks for the same few lengths at every step."""
    if padding.mode == "zeros":
        return ()
    index = padding_index(n, padding.left, padding.right, padding.mode, torch.device("cpu")).tolist()
    positions = [*range(padding.left), *range(padding.left + n, padding.left + n + padding.right)]
    return tuple((position, index[position]) for position in positions)


def _pad_rows(z: Tensor, padding: Padding) -> Tensor:
    """``z`` (``*batch, n, R, C``, any strides) extended along ``n``; a new contiguous tensor."""
    n, dim = z.shape[-3], z.ndim - 3
    out = z.new_empty(*z.shape[:-3], padding.left + n + padding.right, *z.shape[-2:])
    out.narrow(dim, padding.left, n).copy_(z)
    if padding.mode == "zeros":
        out.narrow(dim, 0, padding.left).zero_()
        out.narrow(dim, padding.left + n, padding.right).zero_()
    for position, source in _border_sources(n, padding):
        out.select(dim, position).copy_(z.select(dim, source))
    return out


def _add_unpadded(
    base: Tensor, grad_padded: Tensor, padding: Padding, alpha: float = 1.0, out: Tensor | None = None
) -> Tensor:
    """``base + alpha * g`` where ``g`` is the gradient of ``_pad_rows`` for ``grad_padded`` (border folded back)."""
    n, dim = base.shape[-3], base.ndim - 3
    result = torch.add(base, grad_padded.narrow(dim, padding.left, n), alpha=alpha, out=out)
    for position, source in _border_sources(n, padding):
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
        and torch.backends.mkldnn.enabled
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


def _operator_backward(
    grad: Tensor, saved: _Activations, weights: OperatorWeights, activation: str, sign: float, input: bool = True,
    parameters: bool = True,
) -> list[Tensor | None]:  # fmt: skip
    """Gradients of ``sign * operator`` given ``grad`` of its output: the padded input's (of the operator itself,
    without ``sign``; None unless ``input``), then, with ``parameters``, ``sign`` times those of the conv weight and
    bias and the pointwise weight and bias (an empty tensor for a missing bias)."""
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
    result = [None if grad_padded is None else _images_to_rows(grad_padded, batch)]
    if parameters:
        grads = (
            grad_kernel.view_as(weights.weight),
            grad_bias,
            grad_pointwise.view_as(weights.pointwise_weight),
            grad_pointwise_bias,
        )
        result += [grad_kernel.new_empty(0) if g is None else g * sign for g in grads]
    return result


def as_rows(x: Tensor, images: bool) -> Tensor:
    """Rows ``(N, *S[:-1], L, 1, C)`` of an ``(N, C, *S)`` input lifted along its last axis (``images``), else ``x``.

    The first step of a ladder takes the layer's input as it is (``images``) rather than this channels-last view of
    it: under torch.compile a view handed to a custom op is materialised, and inductor wrote it as a transposing copy
    (1.16x the eager time for a VGG13-BN step)."""
    return x.movedim(1, -1).unsqueeze(-2) if images else x


def _even_odd(x: Tensor) -> tuple[Tensor, Tensor]:
    pairs = x.unflatten(x.ndim - 3, (x.shape[-3] // 2, 2))
    return pairs.select(-3, 0), pairs.select(-3, 1)


def _dense_strides(x: Tensor) -> list[int]:
    """``x``'s strides when they lay it out densely in some dimension order (e.g. a permuted view of an NCHW
    tensor), else ``[]`` (meaning contiguous)."""
    expected = 1
    for size, stride in sorted(zip(x.shape, x.stride(), strict=True), key=lambda item: item[1]):
        if size != 1 and stride != expected:
            return []
        expected *= size
    return list(x.stride())


def _new_empty(reference: Tensor, size: list[int], strides: list[int]) -> Tensor:
    if not strides:
        return reference.new_empty(size)
    return torch.empty_strided(size, strides, dtype=reference.dtype, device=reference.device)


def _activation_shapes(half: torch.Size, padding_left: int, padding_right: int) -> list[tuple[int, ...]]:
    """Shapes of (padded, hidden, value) of P then U for a step whose half-length rows are ``half`` (fake ops)."""
    padded = (*half[:-3], padding_left + half[-3] + padding_right, *half[-2:])
    return [padded, tuple(half), tuple(half)] * 2


def _weights(tensors: list[Tensor]) -> tuple[OperatorWeights, OperatorWeights]:
    """P's and U's weights from the ops' flat list, where an empty tensor stands for a missing bias."""
    given = [t if t.numel() else None for t in tensors]
    return OperatorWeights(*given[:4]), OperatorWeights(*given[4:])


def _flat(predict: OperatorWeights, update: OperatorWeights, like: Tensor) -> list[Tensor]:
    return [like.new_empty(0) if t is None else t for t in (*predict, *update)]


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
    padding = Padding(left, right, mode)  # type: ignore[arg-type]
    predict, update = _weights(weights)
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
    saved: list[Tensor],
    x_size: list[int],
    x_strides: list[int],
    images: bool,
    left: int,
    right: int,
    mode: str,
    activation: str,
    losses_reach_input: bool,
    weights: list[Tensor],
) -> list[Tensor]:
    """[grad of x (laid out by ``x_strides``), grads of P's then U's parameters (empty for a missing bias)].

    Without ``losses_reach_input`` the losses' gradients go into the parameters only: P and U are differentiated for
    two upstream gradients, the total (for their parameters) and the bands' alone (for x)."""
    padding = Padding(left, right, mode)  # type: ignore[arg-type]
    bands, x, *activations = saved  # x: the step's input, or an empty tensor when there are no losses
    at_p, at_u = _Activations(*activations[:3]), _Activations(*activations[3:])
    predict, update = _weights(weights)
    d = bands[1]
    grad_s, grad_d = grad_bands[0], grad_bands[1]
    scale = 2.0 / d.numel()
    with_losses = x.numel() > 0
    if with_losses:  # c_u = mean((s - x_o)^2), c_p = mean(d^2); s - x_o recomputed rather than kept
        difference = bands[0] - _even_odd(as_rows(x, images))[1]
        grad_s = torch.addcmul(grad_s, difference, grad_c_u * scale)
        grad_d = torch.addcmul(grad_d, d, grad_c_p * scale)
    if with_losses and not losses_reach_input:
        return _lift_backward_to_operators(grad_bands, grad_s, grad_d, at_p, at_u, predict, update, padding, activation,
                                           x_size, x_strides, images)  # fmt: skip
    grad_d_padded, *grad_update = _operator_backward(grad_s, at_u, update, activation, 1.0)  # s = x_e + U(d)
    grad_d = _add_unpadded(grad_d, grad_d_padded, padding)
    del grad_d_padded
    grad_even_padded, *grad_predict = _operator_backward(grad_d, at_p, predict, activation, -1.0)  # d = x_o - P(x_e)
    grad_x = _new_empty(bands, x_size, x_strides)
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
    grad_d_padded, *grad_update = _operator_backward(grad_s, at_u, update, activation, 1.0)  # s = x_e + U(d)
    grad_d = _add_unpadded(grad_d, grad_d_padded, padding)
    (band_d_padded,) = _operator_backward(band_s, at_u, update, activation, 1.0, parameters=False)
    band_d = _add_unpadded(band_d, band_d_padded, padding)
    del grad_d_padded, band_d_padded
    _, *grad_predict = _operator_backward(grad_d, at_p, predict, activation, -1.0, input=False)  # d = x_o - P(x_e)
    (band_even_padded,) = _operator_backward(band_d, at_p, predict, activation, -1.0, parameters=False)
    grad_x = _new_empty(grad_bands, x_size, x_strides)
    grad_even, grad_odd = _even_odd(as_rows(grad_x, images))
    _add_unpadded(band_s, band_even_padded, padding, alpha=-1.0, out=grad_even)
    grad_odd.copy_(band_d)
    return [grad_x, *grad_predict, *grad_update]


@_lift_rows_backward.register_fake
def _(grad_bands, grad_c_u, grad_c_p, saved, x_size, x_strides, images, left, right, mode, activation,
      losses_reach_input, weights):  # fmt: skip
    grads = [grad_bands.new_empty(w.shape) for w in weights]
    return [_new_empty(grad_bands, x_size, x_strides), *grads]


def _setup_lift(ctx, inputs, output) -> None:
    x, images, left, right, mode, activation, with_losses, losses_reach_input, weights = inputs
    ctx.options = (images, left, right, mode, activation, losses_reach_input)
    ctx.x_layout = (list(x.shape), _dense_strides(x))
    ctx.mark_non_differentiable(*output[3:])  # kept for the backward, not results
    ctx.set_materialize_grads(False)  # no zero-filled gradients for unused outputs
    losses_input = x if with_losses else x.new_empty(0)  # c_u's gradient reads x_o
    ctx.save_for_backward(output[0], losses_input, *output[3:], *weights)


def _backward_lift(ctx, grads):
    bands, losses_input, *rest = ctx.saved_tensors
    grad_bands, grad_c_u, grad_c_p = grads[:3]
    grad_bands = torch.zeros_like(bands) if grad_bands is None else grad_bands
    grad_c_u = bands.new_zeros(()) if grad_c_u is None else grad_c_u
    grad_c_p = bands.new_zeros(()) if grad_c_p is None else grad_c_p
    weights = list(rest[6:])
    result = _lift_rows_backward(
        grad_bands, grad_c_u, grad_c_p, [bands, losses_input, *rest[:6]], *ctx.x_layout, *ctx.options, weights
    )
    return result[0], None, None, None, None, None, None, None, result[1:]


_lift_rows.register_autograd(_backward_lift, setup_context=_setup_lift)


# ---------------------------------------------------------------------------------------------- inverse step
def _unlift_output(bands: Tensor, channels_first: bool) -> Tensor:
    """Empty rows ``(*batch, 2n, R, C)`` for the inverse of ``bands`` ``(2, *batch, n, R, C)``; ``channels_first``
    puts the channels after ``batch[:2]`` in memory (``batch`` is ``(2**l, N, ...)`` in a ladder), so that the
    last step of a LiftUpPool writes an NCHW-contiguous output."""
    batch, (n, rest, channels) = bands.shape[1:-3], bands.shape[-3:]
    if channels_first:
        return bands.new_empty(*batch[:2], channels, *batch[2:], 2 * n, rest).movedim(2, -1)
    return bands.new_empty(*batch, 2 * n, rest, channels)


@torch.library.custom_op("liftpool::unlift_rows", mutates_args=())
def _unlift_rows(
    bands: Tensor, left: int, right: int, mode: str, activation: str, channels_first: bool, weights: list[Tensor]
) -> list[Tensor]:
    """[x, (padded, hidden, value) of P, of U]: the inverse step ``x_e = s - U(d)``, ``x_o = d + P(x_e)``."""
    padding = Padding(left, right, mode)  # type: ignore[arg-type]
    predict, update = _weights(weights)
    s, d = bands[0], bands[1]
    x = _unlift_output(bands, channels_first)
    even, odd = _even_odd(x)
    at_u = _operator(d, update, padding, activation)
    torch.sub(s, at_u.value, out=even)
    at_p = _operator(even, predict, padding, activation)
    torch.add(d, at_p.value, out=odd)
    return [x, *at_p, *at_u]


@_unlift_rows.register_fake
def _(bands, left, right, mode, activation, channels_first, weights):
    activations = [bands.new_empty(shape) for shape in _activation_shapes(bands.shape[1:], left, right)]
    return [_unlift_output(bands, channels_first), *activations]


@torch.library.custom_op("liftpool::unlift_rows_backward", mutates_args=())
def _unlift_rows_backward(
    grad_x: Tensor, saved: list[Tensor], left: int, right: int, mode: str, activation: str, weights: list[Tensor]
) -> list[Tensor]:
    """[grad of bands, grads of P's then U's parameters (empty for a missing bias)]."""
    padding = Padding(left, right, mode)  # type: ignore[arg-type]
    at_p, at_u = _Activations(*saved[:3]), _Activations(*saved[3:])
    predict, update = _weights(weights)
    grad_even, grad_odd = _even_odd(grad_x)
    grad_bands = grad_x.new_empty(2, *grad_even.shape)
    grad_even_padded, *grad_predict = _operator_backward(grad_odd, at_p, predict, activation, 1.0)  # x_o = d + P(x_e)
    grad_s = _add_unpadded(grad_even, grad_even_padded, padding, out=grad_bands[0])  # x_e = s - U(d)
    del grad_even_padded
    grad_d_padded, *grad_update = _operator_backward(grad_s, at_u, update, activation, -1.0)
    _add_unpadded(grad_odd, grad_d_padded, padding, alpha=-1.0, out=grad_bands[1])
    return [grad_bands, *grad_predict, *grad_update]


@_unlift_rows_backward.register_fake
def _(grad_x, saved, left, right, mode, activation, weights):
    grad_even, _ = _even_odd(grad_x)
    grads = [grad_x.new_empty(w.shape) for w in weights]
    return [grad_x.new_empty(2, *grad_even.shape), *grads]


def _setup_unlift(ctx, inputs, output) -> None:
    _, left, right, mode, activation, _, weights = inputs
    ctx.options = (left, right, mode, activation)
    ctx.mark_non_differentiable(*output[1:])  # kept for the backward, not results
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(*output[1:], *weights)


def _backward_unlift(ctx, grads):
    saved = ctx.saved_tensors
    grad_x = grads[0]
    if grad_x is None:
        return None, None, None, None, None, None, [None] * 8
    result = _unlift_rows_backward(grad_x, list(saved[:6]), *ctx.options, list(saved[6:]))
    return result[0], None, None, None, None, None, result[1:]


_unlift_rows.register_autograd(_backward_unlift, setup_context=_setup_unlift)


def _no_double_backward(ctx, *grads):
    raise RuntimeError(
        "LiftPool's fused path is differentiable once; for double backward (e.g. a gradient penalty) build the "
        "layer with fused=False"
    )


for _backward_op in (_lift_rows_backward, _unlift_rows_backward):
    _backward_op.register_autograd(_no_double_backward)


def register_float32_autocast(*ops: torch.library.CustomOpDef) -> None:
    """Under autocast the steps run in float32 (their inputs cast up, results float32), as autocast does for
    reductions and losses: P/U's tanh and the constraint losses' sums need the precision, and the weights stay
    float32. Without this rule the convolutions inside the ops would be autocast to bfloat16 while their fake
    functions promise the input's dtype, and the backward would meet mixed dtypes."""
    for op in ops:
        for device in ("cpu", "cuda"):
            op.register_autocast(device, torch.float32)


register_float32_autocast(_lift_rows, _lift_rows_backward, _unlift_rows, _unlift_rows_backward)


# ---------------------------------------------------------------------------------------------- public steps
def lift_rows(
    x: Tensor,
    padding: Padding,
    with_losses: bool,
    predict: OperatorWeights,
    update: OperatorWeights,
    images: bool = False,
    losses_reach_input: bool = False,
    activation: str = "tanh",
) -> tuple[Tensor, Tensor, Tensor]:
    """One forward lifting step along ``L`` of rows ``x`` ``(*batch, L, R, C)`` (``L`` even, any strides), or with
    ``images`` of an ``(N, C, *S)`` input along its last axis (``as_rows``).

    Returns ``bands`` ``(2, *batch, L/2, R, C)`` (``bands[0]`` = s, ``bands[1]`` = d), ``c_u`` and ``c_p`` (means of
    squares as in ``lifting.lift``; zeros without ``with_losses``). The losses' gradients reach P's and U's parameters,
    and ``x`` only with ``losses_reach_input`` (``lifting.lift``'s ``detach_input`` negated). Differentiable once (no
    double backward).
    """
    flat = _flat(predict, update, x)
    bands, c_u, c_p, *_ = _lift_rows(x, images, *padding, activation, with_losses, losses_reach_input, flat)
    return bands, c_u, c_p


def unlift_rows(
    bands: Tensor,
    padding: Padding,
    channels_first: bool,
    predict: OperatorWeights,
    update: OperatorWeights,
    activation: str = "tanh",
) -> Tensor:
    """One inverse lifting step: ``bands`` ``(2, *batch, n, R, C)`` (s, d) to rows ``(*batch, 2n, R, C)``.

    ``channels_first``: see ``_unlift_output``. Differentiable once (no double backward).
    """
    flat = _flat(predict, update, bands)
    return _unlift_rows(bands.contiguous(), *padding, activation, channels_first, flat)[0]
