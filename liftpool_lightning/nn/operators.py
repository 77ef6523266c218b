"""The predictor P and updater U of a lifting step, applied along one spatial axis of an (N, C, *spatial) tensor.

Learned operators follow the paper (Sec. 2.1): ``Tanh(Conv_1(ReLU(Conv_K(x))))`` (or without the tanh) with 1D
convolutions along the lifting axis and "same" output length. Fixed operators are the classical linear stencils of
the Haar and LeGall 5/3 wavelets (appendix, Eq. 13-14).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from liftpool_lightning.nn.constants import (
    OPERATOR_ACTIVATIONS,
    OPERATOR_INITS,
    OperatorActivation,
    OperatorInit,
    PaddingMode,
    check_choice,
)
from liftpool_lightning.nn.functional_nd import CONV
from liftpool_lightning.nn.padding import pad_axis


def _kernel_shape(kernel_size: int, spatial_dims: int, axis: int) -> list[int]:
    """Kernel shape that is ``kernel_size`` long along spatial ``axis`` and 1 elsewhere."""
    shape = [1] * spatial_dims
    shape[axis] = kernel_size
    return shape


INIT_SHIFT = 3.0
"""The hidden bias of an identity start (``haar``/``max`` P, ``haar`` U): the ReLU passes inputs above -3 unchanged."""

OperatorRole = Literal["predict", "update"]


class LearnedLiftingOperator(nn.Module):
    """A learned P or U: ``act o Conv(k=1, groups=pointwise_groups) o ReLU o Conv(k=K, groups=groups)``, ``act``
    the ``activation`` (``tanh``, the paper's, or ``identity``).

    ``init`` (``role`` says whether this is P or U): ``kaiming`` initialises both convolutions like ``nn.Conv1d``
    (the paper says nothing else). ``haar`` and ``max`` start from a classical step: the K-tap kernel an identity at
    its centre tap, and

    - P (both): hidden bias 3, pointwise weight 1, pointwise bias -3: ``P(x) = act(x)`` for ``x > -3``;
    - U, ``haar``: the same with pointwise weight 1/2 and bias -3/2: ``U(d) = act(d / 2)`` for ``d > -6``;
    - U, ``max``: no biases, pointwise weight 1: ``U(d) = act(relu(d))``, so ``s = x_e + relu(x_o - P(x_e))``.

    With ``activation="identity"`` these are exact: a Haar step (s the pair mean, d the difference) and the
    max-lifting step (s = max(x_e, x_o)); under the tanh they hold for small values only. Without biases the ``haar``
    weights give ``act(gain * relu(x))``: still Haar for the non-negative inputs a pool after a ReLU sees.

    The weights are stored as 1D convolution kernels (``[C, C/groups, K]``) and applied along any spatial axis of
    a 1D/2D/3D feature map by viewing them as ``K x 1`` (or ``1 x K``) kernels, so no transposes are needed.
    "Same" length: ``(K-1)//2`` samples are padded before and ``K//2`` after (as ``padding="same"`` in torch), so even
    kernel sizes work.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        groups: int,
        pointwise_groups: int,
        padding_mode: PaddingMode,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        init: OperatorInit = "kaiming",
        role: OperatorRole = "predict",
        activation: OperatorActivation = "tanh",
    ) -> None:
        super().__init__()
        check_choice("init", init, OPERATOR_INITS)
        check_choice("role", role, get_args(OperatorRole))
        check_choice("activation", activation, OPERATOR_ACTIVATIONS)
        self.init = init
        self.role = role
        self.activation = activation
        self.channels = channels
        self.kernel_size = kernel_size
        self.groups = groups
        self.pointwise_groups = pointwise_groups
        self.padding_mode = padding_mode
        self.weight = nn.Parameter(torch.empty(channels, channels // groups, kernel_size, device=device, dtype=dtype))
        self.pointwise_weight = nn.Parameter(
            torch.empty(channels, channels // pointwise_groups, device=device, dtype=dtype)
        )
        self.bias = nn.Parameter(torch.empty(channels, device=device, dtype=dtype)) if bias else None
        self.pointwise_bias = nn.Parameter(torch.empty(channels, device=device, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise by ``init``: like ``nn.Conv1d`` (Kaiming-uniform weights, uniform biases in +-1/sqrt(fan_in)),
        or as the Haar or max-lifting step described in the class docstring."""
        if self.init == "kaiming":
            for weight, bias in ((self.weight, self.bias), (self.pointwise_weight, self.pointwise_bias)):
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
                if bias is not None:
                    fan_in = weight[0].numel()
                    nn.init.uniform_(bias, -1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))
            return
        relu_update = self.init == "max" and self.role == "update"
        gain = 0.5 if self.init == "haar" and self.role == "update" else 1.0
        shift = 0.0 if relu_update else INIT_SHIFT
        with torch.no_grad():
            identity = torch.arange(self.channels, device=self.weight.device)
            self.weight.zero_()
            self.weight[identity, identity % self.weight.shape[1], (self.kernel_size - 1) // 2] = 1.0
            self.pointwise_weight.zero_()
            self.pointwise_weight[identity, identity % self.pointwise_weight.shape[1]] = gain
            if self.bias is not None:  # the two biases exist together (``bias``)
                self.bias.fill_(shift)
            if self.pointwise_bias is not None:
                self.pointwise_bias.fill_(-shift * gain)

    def forward(self, x: Tensor, dim: int) -> Tensor:
        """Apply the operator along dimension ``dim`` (>= 2) of ``x`` shaped (N, C, *spatial)."""
        spatial_dims = x.ndim - 2
        k = self.kernel_size
        y = pad_axis(x, dim, (k - 1) // 2, k // 2, self.padding_mode)
        weight = self.weight.view(self.channels, -1, *_kernel_shape(k, spatial_dims, dim - 2))
        y = torch.relu(CONV[spatial_dims](y, weight, self.bias, groups=self.groups))
        if self.pointwise_groups == self.channels:  # depthwise 1x1 conv is a per-channel affine map
            scale_shape = (1, self.channels) + (1,) * spatial_dims
            y = y * self.pointwise_weight.view(scale_shape)
            if self.pointwise_bias is not None:
                y = y + self.pointwise_bias.view(scale_shape)
        else:
            weight = self.pointwise_weight.view(self.channels, -1, *([1] * spatial_dims))
            y = CONV[spatial_dims](y, weight, self.pointwise_bias, groups=self.pointwise_groups)
        return torch.tanh(y) if self.activation == "tanh" else y

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, kernel_size={self.kernel_size}, groups={self.groups}, "
            f"pointwise_groups={self.pointwise_groups}, padding_mode={self.padding_mode!r}, "
            f"bias={self.bias is not None}"
            + (f", init={self.init!r}" if self.init != "kaiming" else "")
            + (f", activation={self.activation!r}" if self.activation != "tanh" else "")
        )


class StencilOperator(nn.Module):
    """A fixed linear P or U: ``y[i] = sum_j taps[j] * x[i + offset + j]`` along one axis, no parameters."""

    def __init__(self, taps: tuple[float, ...], offset: int, padding_mode: PaddingMode) -> None:
        super().__init__()
        self.taps = tuple(float(t) for t in taps)
        self.offset = offset
        self.padding_mode = padding_mode

    def forward(self, x: Tensor, dim: int) -> Tensor:
        """Apply the stencil along dimension ``dim`` of ``x``."""
        if len(self.taps) == 1 and self.offset == 0:
            return x if self.taps[0] == 1.0 else x * self.taps[0]
        length = x.shape[dim]
        left = max(0, -self.offset)
        right = max(0, self.offset + len(self.taps) - 1)
        padded = pad_axis(x, dim, left, right, self.padding_mode)
        out: Tensor | None = None
        for j, tap in enumerate(self.taps):
            term = padded.narrow(dim, left + self.offset + j, length) * tap
            out = term if out is None else out + term
        if out is None:
            raise ValueError("StencilOperator has no taps")
        return out

    def extra_repr(self) -> str:
        return f"taps={self.taps}, offset={self.offset}, padding_mode={self.padding_mode!r}"


def fixed_operators(scheme: str, padding_mode: PaddingMode) -> tuple[StencilOperator, StencilOperator]:
    """The (P, U) pair of a classical lifting scheme.

    ``haar``: ``P(x_e)[i] = x_e[i]``, ``U(d)[i] = d[i] / 2`` (so s is the pair mean, d the pair difference).
    ``legall53``: ``P(x_e)[i] = (x_e[i] + x_e[i+1]) / 2``, ``U(d)[i] = (d[i-1] + d[i]) / 4`` (appendix Eq. 13-14).
    """
    if scheme == "haar":
        return StencilOperator((1.0,), 0, padding_mode), StencilOperator((0.5,), 0, padding_mode)
    if scheme == "legall53":
        return StencilOperator((0.5, 0.5), 0, padding_mode), StencilOperator((0.25, 0.25), -1, padding_mode)
    raise ValueError(f"lifting {scheme!r} has no fixed operators; choose 'haar' or 'legall53'")
