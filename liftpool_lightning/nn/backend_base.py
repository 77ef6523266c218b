"""The interface every backend of the lifting steps implements (``backends.BACKENDS`` lists them in order).

A backend says why it cannot serve an input (an empty list: it can), and runs one forward lifting step
(``lift_rows``) and one inverse step (``unlift_rows``) on rows ``(*batch, L, R, C)`` (``_step_common``). All
backends compute the same function; ``tests/nn/test_fused_lifting.py`` runs one battery over every one of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from torch import Tensor

from liftpool_lightning.nn import backend_config
from liftpool_lightning.nn._step_common import OperatorWeights, Padding

if TYPE_CHECKING:
    from liftpool_lightning.nn.pool import LiftDownPoolNd


def half_lengths(x: Tensor, layer: LiftDownPoolNd, inverse: bool) -> tuple[int, ...]:
    """The half-row lengths of the ladder's steps: of the pooled map for the layer's input ``x``, or, for an inverse
    ladder, the low band ``x`` itself."""
    return tuple(x.shape[2:]) if inverse else layer.output_size(tuple(x.shape[2:]))


def layer_reasons(layer: LiftDownPoolNd) -> list[str]:
    """Why no kernel-backed backend serves ``layer``, whatever its input: the kernels implement the default learned,
    shared, depthwise P/U only, and exported graphs hold standard ops only."""
    reasons = []
    if not layer.fused:
        reasons.append("the layer was built with fused=False")
    if layer.lifting != "learned":
        reasons.append(f"lifting={layer.lifting!r} (fixed stencils run as standard ops)")
    elif not layer.share_weights:
        reasons.append("share_weights=False (the kernels take one P/U pair for every step)")
    elif layer.predict.groups != layer.channels or layer.predict.pointwise_groups != layer.channels:
        reasons.append(
            f"groups={layer.predict.groups}, pointwise_groups={layer.predict.pointwise_groups} (the kernels are "
            f"depthwise: both equal to channels={layer.channels})"
        )
    if backend_config.exporting():
        reasons.append("a graph export is tracing the call (exported graphs hold standard ops only)")
    return reasons


class Backend(ABC):
    """A way to run a LiftPool layer: a name and the reasons it cannot serve an input."""

    name: ClassVar[str]

    def unsupported_reasons(
        self, x: Tensor, layer: LiftDownPoolNd, *, inverse: bool = False, forced: bool = False
    ) -> list[str]:
        """Why this backend cannot run ``layer`` on ``x`` (the layer's input, or with ``inverse`` the low band a
        LiftUpPool rebuilds from); empty where it can. ``forced``: the backend was asked for by name
        (``backend_config.use_backend``)."""
        return [*layer_reasons(layer), *self.input_reasons(x, half_lengths(x, layer, inverse), forced=forced)]

    @abstractmethod
    def input_reasons(self, x: Tensor, half_lengths: Sequence[int], *, forced: bool) -> list[str]:
        """Why this backend cannot run a ladder on ``x`` whose steps have these half-row lengths."""


class GenericBackend(Backend):
    """The layer's own path of standard torch ops, differentiated by autograd: every configuration, every device,
    double backward, exports. Always available, so always last."""

    name = "generic"

    def unsupported_reasons(
        self, x: Tensor, layer: LiftDownPoolNd, *, inverse: bool = False, forced: bool = False
    ) -> list[str]:
        return []

    def input_reasons(self, x: Tensor, half_lengths: Sequence[int], *, forced: bool) -> list[str]:
        return []


class StepBackend(Backend):
    """A backend that runs the default configuration's lifting steps as custom ops (kernel-backed: one op per step,
    with a hand-written backward, differentiable once)."""

    @abstractmethod
    def lift_rows(
        self, x: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights, with_losses: bool,
        images: bool = False, losses_reach_input: bool = False, activation: str = "tanh",
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        """One forward lifting step along ``L`` of rows ``x`` ``(*batch, L, R, C)`` (``L`` even, any strides), or
        with ``images`` of an ``(N, C, *S)`` input along its last axis (``_step_common.as_rows``).

        Returns ``bands`` ``(2, *batch, L/2, R, C)`` (``bands[0]`` = s, ``bands[1]`` = d), ``c_u`` and ``c_p`` (means
        of squares as in ``lifting.lift``, in ``loss_precision.loss_dtype``; zeros without ``with_losses``). The
        losses' gradients reach P's and U's parameters, and ``x`` only with ``losses_reach_input``."""

    @abstractmethod
    def unlift_rows(
        self, bands: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights,
        channels_first: bool = False, activation: str = "tanh",
    ) -> Tensor:  # fmt: skip
        """One inverse lifting step: ``bands`` ``(2, *batch, n, R, C)`` (s, d) to rows ``(*batch, 2n, R, C)``;
        ``channels_first`` lays them out NCHW-contiguous (``_step_common.unlift_output``)."""
