"""Containers for what a LiftDownPool produces besides its pooled output: sub-bands and constraint losses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor


@dataclass(frozen=True, eq=False)
class Subbands(Mapping[str, Tensor]):
    """The sub-bands of one decomposition, by name (``ll``, ``lh``, ``hl``, ``hh`` in 2D; ``l``, ``h`` in 1D).

    Bands are reached as attributes (``bands.ll``) or by key (``bands["ll"]``). ``input_size`` is the spatial
    size of the decomposed input, which the inverse crops back to.
    """

    bands: dict[str, Tensor]
    input_size: tuple[int, ...]

    def __getattr__(self, name: str) -> Tensor:
        bands = self.__dict__.get("bands")
        if bands is not None and name in bands:
            return bands[name]
        raise AttributeError(f"{type(self).__name__} has no band {name!r}; it has {', '.join(bands or ())}")

    def __getitem__(self, name: str) -> Tensor:
        return self.bands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.bands)

    def __len__(self) -> int:
        return len(self.bands)

    @property
    def low(self) -> Tensor:
        """The all-low band (``ll`` in 2D)."""
        return self.bands["l" * len(self.input_size)]


class LiftingLosses(NamedTuple):
    """Constraint losses of one layer's last forward, each summed over the layer's 1D lifting steps.

    ``c_u``: update constraint, mean of ``(U(d) + x_e - x_o)^2``; ``c_p``: predict constraint, mean of ``d^2``.
    """

    c_u: Tensor
    c_p: Tensor
