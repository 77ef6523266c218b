"""The constraint losses' means of squares, accumulated in float32 whatever the features' precision.

Under ``16-true`` or ``bf16-true`` training the bands are float16/bfloat16. A mean of squares taken in that dtype
overflows (float16 holds up to 65504: the square of a 256 already does, and a sum of squares far sooner) or loses
most of its digits (bfloat16 keeps 8 bits). So c_u and c_p are computed and returned in ``loss_dtype`` (float32, or
float64 for float64 features), as autocast does for its reductions and losses; their gradients flow back into the
features' dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor


def loss_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16/bfloat16/float32 features, float64 for float64 ones."""
    return torch.promote_types(dtype, torch.float32)


def mean_square(x: Tensor) -> Tensor:
    """``mean(x**2)`` in ``loss_dtype(x.dtype)``, differentiable by autograd (the generic path)."""
    return x.to(loss_dtype(x.dtype)).square().mean()


def mean_square_value(x: Tensor) -> Tensor:
    """``mean(x**2)`` in ``loss_dtype(x.dtype)`` without a widened copy of ``x`` (the fused steps, whose backward
    is written by hand: not differentiated by autograd)."""
    dtype = loss_dtype(x.dtype)
    flat = x.reshape(-1)
    if x.dtype == dtype:
        return torch.dot(flat, flat) / flat.numel()
    return torch.linalg.vector_norm(flat, dtype=dtype).square() / flat.numel()
