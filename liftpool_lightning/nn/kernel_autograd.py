"""Autograd of the kernel-backed inverse lifting step (C++ on CPU, Triton on CUDA): one registration for both.

Both ops have the signature ``unlift(bands, left, right, mode, activation, channels_first, weights) -> x`` and a
backward op ``unlift_backward(grad_x, bands, left, right, mode, activation, weights) -> [grad of bands, grads of P's
then U's parameters]`` that recomputes P and U from the saved bands, so the forward keeps only its inputs.
"""

from __future__ import annotations

from typing import Any

import torch

from liftpool_lightning.nn.fused_lifting import _no_double_backward


def register_unlift_autograd(unlift: torch.library.CustomOpDef, unlift_backward: torch.library.CustomOpDef) -> None:
    """Make ``unlift`` differentiable once through ``unlift_backward`` (which itself refuses a second backward)."""

    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        bands, left, right, mode, activation, _, weights = inputs
        ctx.options = (left, right, mode, activation)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(bands, *weights)

    def backward(ctx: Any, grad_x: torch.Tensor | None) -> tuple:
        bands, *weights = ctx.saved_tensors
        if grad_x is None:
            return None, None, None, None, None, None, [None] * len(weights)
        result = unlift_backward(grad_x, bands, *ctx.options, weights)
        return result[0], None, None, None, None, None, result[1:]

    unlift.register_autograd(backward, setup_context=setup_context)
    unlift_backward.register_autograd(_no_double_backward)
