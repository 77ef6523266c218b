"""LiftUpPool in 1D, 2D and 3D: the inverse of a LiftDownPool, for decoders (Zhao & Snoek, "LiftPool", ICLR 2021).

It runs the paired down-pool's lifting ladder backwards with the same P/U, putting its input in place of the all-low
band and taking the detail bands the down-pool recorded, so it reconstructs the down-pool's input exactly when given
its true low band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from liftpool_lightning.nn.constants import MISSING_DETAILS, MissingDetails, check_choice
from liftpool_lightning.nn.pool import LiftDownPoolNd
from liftpool_lightning.nn.subbands import Subbands


class LiftUpPoolNd(nn.Module):
    """Base of LiftUpPool1d/2d/3d: the inverse of a LiftDownPool, sharing (and training) its P/U.

    ``up(low, bands)`` puts ``low`` in place of the all-low band (``ll`` in 2D), takes the detail bands from
    ``bands`` (a ``Subbands`` or a mapping by name) or, when None, from the paired down-pool's last forward (building
    an up-pool turns on the down-pool's ``record_bands``), and runs the ladder backwards. With the true ``ll`` the
    result equals the down-pool's input.

    Args:
        down: the LiftDownPool whose P/U are inverted (registered as a submodule: its parameters are shared).
        missing_details: with no bands given or recorded, ``error`` raises, ``zeros`` uses zero details.
    """

    spatial_dims: ClassVar[int] = 0

    def __init__(self, down: LiftDownPoolNd, missing_details: MissingDetails = "error") -> None:
        super().__init__()
        if not isinstance(down, LiftDownPoolNd) or down.spatial_dims != self.spatial_dims:
            raise TypeError(
                f"{type(self).__name__}: down must be a LiftDownPool{self.spatial_dims}d, got {type(down).__name__}"
            )
        check_choice("missing_details", missing_details, MISSING_DETAILS)
        self.down = down
        self.missing_details = missing_details
        down.record_bands = True

    def forward(
        self, low: Tensor, bands: Mapping[str, Tensor] | None = None, output_size: Sequence[int] | None = None
    ) -> Tensor:
        """Reconstruct from ``low`` and the detail bands; ``output_size`` (spatial, or with N, C) crops/extends."""
        names = self.down.band_names
        self.down._check_input(low, "low")
        if bands is None:
            bands = self.down.last_bands
        if bands is None:
            if self.missing_details == "error":
                raise ValueError(
                    f"{type(self).__name__}: no detail bands; pass bands=, run the paired down-pool first, "
                    "or build the up-pool with missing_details='zeros'"
                )
            zeros = torch.zeros_like(low)
            bands = {name: zeros for name in names[1:]}
        for name in names[1:]:
            if name not in bands:
                raise ValueError(f"{type(self).__name__}: bands is missing the detail band {name!r}")
            if bands[name].shape != low.shape:
                raise ValueError(
                    f"{type(self).__name__}: low has shape {tuple(low.shape)} but detail band {name!r} has "
                    f"{tuple(bands[name].shape)}; they must match"
                )
        if output_size is not None:
            # the spatial sizes only: int() on a traced N would fix an exported graph's batch size
            size = tuple(int(s) for s in tuple(output_size)[-self.spatial_dims :])
            if len(size) != self.spatial_dims:
                raise ValueError(f"output_size must give {self.spatial_dims} spatial sizes, got {tuple(output_size)}")
            if self.down.output_size(size) != tuple(low.shape[2:]):
                raise ValueError(
                    f"output_size {size} does not pool to the size of low {tuple(low.shape[2:])} "
                    f"(ceil_mode={self.down.ceil_mode})"
                )
        elif isinstance(bands, Subbands):
            size = bands.input_size
        else:
            size = tuple(2 * n for n in low.shape[2:])
        full = {names[0]: low, **{name: bands[name] for name in names[1:]}}
        return self.down.reconstruct(full, size)

    def extra_repr(self) -> str:
        return f"missing_details={self.missing_details!r}"


class LiftUpPool1d(LiftUpPoolNd):
    """Inverse of a LiftDownPool1d."""

    spatial_dims = 1


class LiftUpPool2d(LiftUpPoolNd):
    """Inverse of a LiftDownPool2d."""

    spatial_dims = 2


class LiftUpPool3d(LiftUpPoolNd):
    """Inverse of a LiftDownPool3d."""

    spatial_dims = 3
