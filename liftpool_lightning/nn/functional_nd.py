"""Dimension dispatch shared by the layers, the baseline pools and the surgery: the 1d/2d/3d torch functions by
number of spatial dimensions, and int-or-sequence arguments as per-axis tuples."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def per_axis(value: int | Sequence[int], spatial_dims: int, name: str = "value") -> tuple[int, ...]:
    """``2`` -> ``(2, 2)`` in 2D; a sequence must give one int per spatial axis (ValueError naming ``name``)."""
    values = (int(value),) * spatial_dims if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != spatial_dims:
        raise ValueError(f"{name} must be an int or {spatial_dims} ints, got {value!r}")
    return values
