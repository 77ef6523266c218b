"""The autograd glue of the lifting steps' custom ops: one registration for the forward step and one for the inverse
step, shared by every kernel-backed backend (PyTorch steps, C++, Triton).

Schemas the ops follow (``weights``: P's then U's parameters, ``_step_common.pack_weights``):

* ``lift(x, images, left, right, mode, activation, with_losses, losses_reach_input, weights)`` ->
  ``[bands, c_u, c_p, *kept]``; ``lift_backward(grad_bands, grad_c_u, grad_c_p, x, bands, kept, x_size, x_strides,
  images, left, right, mode, activation, with_losses, losses_reach_input, weights)`` -> ``[grad of x (laid out by
  x_size/x_strides), *grads of the weights (empty for a missing bias)]``;
* ``unlift(bands, left, right, mode, activation, channels_first, weights)`` -> ``[x, *kept]``;
  ``unlift_backward(grad_x, bands, kept, left, right, mode, activation, weights)`` -> ``[grad of bands, *grads of
  the weights]``.

``kept`` are what a backend keeps for its backward besides the step's input and output (the PyTorch steps keep P's
and U's activations; the C++ and Triton kernels recompute them and keep nothing). A backend that does not need the
input for its backward (``needs_input=False``) gets an empty tensor for it, unless the losses need it.
"""

from __future__ import annotations

from typing import Any

import torch

from liftpool_lightning.nn._step_common import dense_strides, no_double_backward
from liftpool_lightning.nn.loss_precision import loss_dtype


def register_lift_autograd(
    lift: torch.library.CustomOpDef, lift_backward: torch.library.CustomOpDef, needs_input: bool = True
) -> None:
    """Make the forward step ``lift`` differentiable once through ``lift_backward``."""

    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        x, images, left, right, mode, activation, with_losses, losses_reach_input, weights = inputs
        ctx.options = (images, left, right, mode, activation, with_losses, losses_reach_input)
        ctx.x_layout = (list(x.shape), dense_strides(x))
        kept = output[3:]
        if kept:
            ctx.mark_non_differentiable(*kept)  # kept for the backward, not results
        ctx.kept = len(kept)
        ctx.set_materialize_grads(False)  # no zero-filled gradients for unused outputs
        saved_input = x if needs_input or with_losses else x.new_empty(0)
        ctx.save_for_backward(saved_input, output[0], *kept, *weights)

    def backward(ctx: Any, grads: list) -> tuple:  # one gradient per output (None for the kept tensors)
        grad_bands, grad_c_u, grad_c_p = grads[:3]
        x, bands, *rest = ctx.saved_tensors
        kept, weights = list(rest[: ctx.kept]), list(rest[ctx.kept :])
        losses = loss_dtype(bands.dtype)
        grad_bands = torch.zeros_like(bands) if grad_bands is None else grad_bands
        grad_c_u = bands.new_zeros((), dtype=losses) if grad_c_u is None else grad_c_u
        grad_c_p = bands.new_zeros((), dtype=losses) if grad_c_p is None else grad_c_p
        result = lift_backward(grad_bands, grad_c_u, grad_c_p, x, bands, kept, *ctx.x_layout, *ctx.options, weights)
        return result[0], None, None, None, None, None, None, None, result[1:]

    lift.register_autograd(backward, setup_context=setup_context)
    lift_backward.register_autograd(no_double_backward)


def register_unlift_autograd(
    unlift: torch.library.CustomOpDef, unlift_backward: torch.library.CustomOpDef, needs_input: bool = True
) -> None:
    """Make the inverse step ``unlift`` differentiable once through ``unlift_backward``."""

    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        bands, left, right, mode, activation, _, weights = inputs
        ctx.options = (left, right, mode, activation)
        kept = output[1:]
        if kept:
            ctx.mark_non_differentiable(*kept)
        ctx.kept = len(kept)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(bands if needs_input else bands.new_empty(0), *kept, *weights)

    def backward(ctx: Any, grads: list) -> tuple:
        grad_x = grads[0]
        bands, *rest = ctx.saved_tensors
        kept, weights = list(rest[: ctx.kept]), list(rest[ctx.kept :])
        if grad_x is None:
            return None, None, None, None, None, None, [None] * len(weights)
        result = unlift_backward(grad_x, bands, kept, *ctx.options, weights)
        return result[0], None, None, None, None, None, result[1:]

    unlift.register_autograd(backward, setup_context=setup_context)
    unlift_backward.register_autograd(no_double_backward)
