"""Baseline pools the paper compares LiftPool with, written cleanly for any device, dtype and input size.

* ``SkipPool``: plain subsampling (keep every s-th sample), what a strided convolution does after a stride-1 conv;
  the paper's "Skip".
* ``BlurPool``: anti-aliased downsampling, a binomial low-pass filter then subsampling (Zhang, ICML 2019).
* ``MaxBlurPool``: max over a window with stride 1, then ``BlurPool`` (Zhang's replacement for MaxPool).
* ``MixedPool``: ``a * max + (1 - a) * avg`` with one learned mixing weight per layer (Lee et al., AISTATS 2016).
* ``GatedPool``: the same mix with ``a = sigmoid(w . region)``, a gate computed from each pooling region by a
  learned ``k x k`` filter shared across channels (Lee et al., 2016).

All work in 1D, 2D and 3D (``spatial_dims``) and need no channel count: a single-channel filter is applied to
every channel as a depthwise (grouped) convolution, which is many times faster than folding the channels into the
batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftpool_lightning.nn.constants import PaddingMode
from liftpool_lightning.nn.functional_nd import AVG_POOL, CONV, MAX_POOL, per_axis
from liftpool_lightning.nn.padding import pad_axis


def _check_spatial_dims(spatial_dims: int) -> int:
    if spatial_dims not in (1, 2, 3):
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}")
    return spatial_dims


def _check_rank(module: nn.Module, x: Tensor, spatial_dims: int) -> None:
    if x.ndim != spatial_dims + 2:
        raise ValueError(
            f"{type(module).__name__}: input must be {spatial_dims + 2}D (N, C, *spatial), got {tuple(x.shape)}"
        )


def per_channel_conv(x: Tensor, weight: Tensor, stride: int | Sequence[int]) -> Tensor:
    """Convolve every channel of ``x`` (N, C, *s) with the one filter ``weight`` (1, 1, *k), as a grouped
    convolution; gradients reach ``weight`` through the expansion."""
    channels = x.shape[1]
    spatial_dims = x.ndim - 2
    kernel = weight.to(x.dtype).expand(channels, 1, *weight.shape[2:])
    return CONV[spatial_dims](x, kernel, stride=stride, groups=channels)


class SkipPool(nn.Module):
    """Subsample: keep samples 0, s, 2s, ... along every spatial axis (``ceil_mode`` keeps ceil(n/s) of them)."""

    def __init__(self, stride: int | Sequence[int] = 2, spatial_dims: int = 2, ceil_mode: bool = True) -> None:
        super().__init__()
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        self.stride = per_axis(stride, spatial_dims, "stride")
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        _check_rank(self, x, self.spatial_dims)
        index: list[slice] = [slice(None), slice(None)]
        for size, step in zip(x.shape[2:], self.stride, strict=True):
            count = math.ceil(size / step) if self.ceil_mode else size // step
            index.append(slice(0, (count - 1) * step + 1 if count else 0, step))
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return f"stride={self.stride}, ceil_mode={self.ceil_mode}"


def binomial_filter(size: int, spatial_dims: int) -> Tensor:
    """Normalised n-D binomial filter (rows of Pascal's triangle, outer product), shape (1, 1, size, ...)."""
    row = torch.tensor([math.comb(size - 1, k) for k in range(size)], dtype=torch.float64)
    kernel = row
    for _ in range(spatial_dims - 1):
        kernel = kernel.unsqueeze(-1) * row
    kernel = kernel / kernel.sum()
    return kernel.view(1, 1, *kernel.shape).to(torch.get_default_dtype())


class BlurPool(nn.Module):
    """Binomial low-pass filter of size ``filter_size`` then subsampling by ``stride`` (Zhang 2019).

    Output length is ceil(n / stride) (``ceil_mode``) or floor(n / stride); ``stride=1`` only blurs.
    The filter is a buffer (moves with ``.to()``, is not trained).
    """

    filter: Tensor  # the registered buffer

    def __init__(
        self,
        stride: int = 2,
        filter_size: int = 3,
        spatial_dims: int = 2,
        padding_mode: PaddingMode = "reflect",
        ceil_mode: bool = True,
    ) -> None:
        super().__init__()
        if filter_size < 1:
            raise ValueError(f"filter_size must be >= 1, got {filter_size}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        self.stride = stride
        self.filter_size = filter_size
        self.padding_mode = padding_mode
        self.ceil_mode = ceil_mode
        self.register_buffer("filter", binomial_filter(filter_size, spatial_dims), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_rank(self, x, self.spatial_dims)
        y = x
        for dim in range(2, y.ndim):
            y = pad_axis(y, dim, (self.filter_size - 1) // 2, self.filter_size // 2, self.padding_mode)
        y = per_channel_conv(y, self.filter, self.stride)
        if not self.ceil_mode:
            kept = (slice(None), slice(None), *(slice(0, n // self.stride) for n in x.shape[2:]))
            y = y[kept]
        return y

    def extra_repr(self) -> str:
        return (
            f"stride={self.stride}, filter_size={self.filter_size}, padding_mode={self.padding_mode!r}, "
            f"ceil_mode={self.ceil_mode}"
        )


class MaxBlurPool(nn.Module):
    """Max over a ``kernel_size`` window with stride 1 (same padding/dilation as the replaced pool), then BlurPool.

    ``extend`` repeats the last sample of the max map that many times before blurring, which gives a
    ``ceil_mode=True`` max pool's output size where the stride-1 max map is one sample short.
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int] = 2,
        stride: int = 2,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        filter_size: int = 3,
        spatial_dims: int = 2,
        ceil_mode: bool = True,
        extend: int = 0,
    ) -> None:
        super().__init__()
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        self.extend = extend
        self.kernel_size = per_axis(kernel_size, spatial_dims, "kernel_size")
        self.padding = per_axis(padding, spatial_dims, "padding")
        self.dilation = per_axis(dilation, spatial_dims, "dilation")
        self.blur = BlurPool(stride, filter_size, spatial_dims, ceil_mode=ceil_mode)

    def forward(self, x: Tensor) -> Tensor:
        _check_rank(self, x, self.spatial_dims)
        y = MAX_POOL[self.spatial_dims](x, self.kernel_size, 1, self.padding, self.dilation)
        for dim in range(2, y.ndim) if self.extend else ():
            y = pad_axis(y, dim, 0, self.extend, "replicate")
        return self.blur(y)

    def extra_repr(self) -> str:
        extend = f", extend={self.extend}" if self.extend else ""
        return f"kernel_size={self.kernel_size}, padding={self.padding}, dilation={self.dilation}{extend}"


class _MixedPoolBase(nn.Module):
    """``a * max + (1 - a) * avg`` over the same windows; subclasses say where the mixing weight ``a`` comes from."""

    def __init__(
        self,
        kernel_size: int | Sequence[int] = 2,
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        spatial_dims: int = 2,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        self.kernel_size = per_axis(kernel_size, spatial_dims, "kernel_size")
        self.stride = self.kernel_size if stride is None else per_axis(stride, spatial_dims, "stride")
        self.padding = per_axis(padding, spatial_dims, "padding")
        self.ceil_mode = ceil_mode
        self.create_parameters(device, dtype)
        self.reset_parameters()

    def create_parameters(self, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        raise NotImplementedError

    def mixing(self, x: Tensor, pooled_shape: torch.Size) -> Tensor:
        """The weight ``a`` of the max branch, broadcastable to the pooled output."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        _check_rank(self, x, self.spatial_dims)
        geometry = (self.kernel_size, self.stride, self.padding)
        maximum = MAX_POOL[self.spatial_dims](x, *geometry, ceil_mode=self.ceil_mode)
        average = AVG_POOL[self.spatial_dims](x, *geometry, ceil_mode=self.ceil_mode)
        mix = self.mixing(x, maximum.shape)
        return mix * maximum + (1 - mix) * average

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, ceil_mode={self.ceil_mode}"
        )


class MixedPool(_MixedPoolBase):
    """``a * max + (1 - a) * avg`` with ``a = sigmoid(alpha)``, one learned ``alpha`` per layer (starts at a=0.5)."""

    def create_parameters(self, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        self.alpha = nn.Parameter(torch.zeros((), device=device, dtype=dtype))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.alpha)

    def mixing(self, x: Tensor, pooled_shape: torch.Size) -> Tensor:
        return torch.sigmoid(self.alpha)


class GatedPool(_MixedPoolBase):
    """Gated max-average pooling: ``a = sigmoid(w . region)`` per output position and channel, ``w`` shared by
    all channels, then ``a * max + (1 - a) * avg`` (Lee et al. 2016)."""

    def create_parameters(self, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        self.gate_weight = nn.Parameter(torch.empty(1, 1, *self.kernel_size, device=device, dtype=dtype))

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.gate_weight, a=math.sqrt(5))

    def mixing(self, x: Tensor, pooled_shape: torch.Size) -> Tensor:
        # pad like the pools (zeros), and on the far side too when ceil_mode gives a partial last window
        pads: list[int] = []
        for size, out, k, s, p in reversed(
            list(zip(x.shape[2:], pooled_shape[2:], self.kernel_size, self.stride, self.padding, strict=True))
        ):
            pads += [p, max(p, (out - 1) * s + k - size - p)]
        gate = torch.sigmoid(per_channel_conv(F.pad(x, pads), self.gate_weight, self.stride))
        kept = (slice(None), slice(None), *(slice(0, n) for n in pooled_shape[2:]))
        return gate[kept]
