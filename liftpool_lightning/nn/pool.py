"""LiftDownPool in 1D, 2D and 3D (Zhao & Snoek, "LiftPool", ICLR 2021).

A LiftDownPool lifts its input along every spatial axis in turn, last axis (W) first: in 2D the W pass splits ``x``
into ``s`` (low) and ``d`` (high), then the H pass splits both, giving ``ll, lh, hl, hh``. The pooled output is the
sum of a chosen subset of the bands (default: the low band; the paper's LiftDownPool sums all four, ``bands="all"``).
``up_pool.LiftUpPool2d`` runs the ladder backwards with the same P/U.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, cast

import torch
from torch import Tensor, nn

from liftpool_lightning.nn import backends, fused_ladder
from liftpool_lightning.nn._step_common import OperatorWeights
from liftpool_lightning.nn.backend_base import StepBackend
from liftpool_lightning.nn.constants import (
    AXIS_LETTERS,
    CONSTRAINT_GRADIENTS,
    LIFTING_SCHEMES,
    OPERATOR_ACTIVATIONS,
    OPERATOR_INITS,
    PADDING_MODES,
    ConstraintGradients,
    LiftingScheme,
    OperatorActivation,
    OperatorInit,
    PaddingMode,
    band_names,
    check_choice,
)
from liftpool_lightning.nn.lifting import even_length, fit_length, lift, unlift
from liftpool_lightning.nn.operators import LearnedLiftingOperator, OperatorRole, fixed_operators
from liftpool_lightning.nn.subbands import LiftingLosses, Subbands


def _check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _normalise_bands(bands: Sequence[str] | str | None, names: tuple[str, ...]) -> tuple[str, ...]:
    if bands is None or bands == "all":
        return names
    if bands == "low":
        return names[:1]
    if isinstance(bands, str):
        bands = (bands,)
    chosen = []
    for band in bands:
        key = str(band).lower()
        if key not in names:
            raise ValueError(f"bands: unknown band {band!r}; choose from {', '.join(names)} (or 'all')")
        if key not in chosen:
            chosen.append(key)
    if not chosen:
        raise ValueError(f"bands must name at least one of {', '.join(names)}")
    return tuple(chosen)


def _unstack(x: Tensor, parts: int) -> list[Tensor]:
    """``x`` split into ``parts`` equal pieces along the batch axis (like ``chunk``, but a reshape: exports with a
    symbolic batch size without guards on it)."""
    return list(x.unflatten(0, (parts, -1)).unbind(0)) if parts > 1 else [x]


_NOT_SCRIPTABLE = (
    "{} cannot be compiled by torch.jit.script (TorchScript cannot type its Python code); export the model "
    "instead: `liftpool export --ckpt_path CKPT --format onnx|torch_export`, "
    "liftpool_lightning.export.export_model(...), torch.export.export or torch.jit.trace"
)


def _lift_keys(spatial_dims: int) -> list[str]:
    """Names of the 2**n - 1 lifting steps of an n-D decomposition (``w``, ``h_l``, ``h_h``, ``d_ll`` ...)."""
    keys = []
    for level in range(spatial_dims):
        prefixes = band_names(level) if level else ("",)
        keys += [f"{AXIS_LETTERS[level]}_{p}" if p else AXIS_LETTERS[level] for p in prefixes]
    return keys


def _weights_of(operator: LearnedLiftingOperator) -> OperatorWeights:
    return OperatorWeights(operator.weight, operator.bias, operator.pointwise_weight, operator.pointwise_bias)


class LiftDownPoolNd(nn.Module):
    """Base of LiftDownPool1d/2d/3d: pools by a factor 2 along every spatial axis with a lifting scheme.

    Each axis is split into even and odd samples, a predictor P turns the odd ones into a detail band and an updater
    U the even ones into a low band (paper Sec. 2.1); the pooled output is the sum of the chosen sub-bands. Every
    step is exactly invertible whatever P and U are, which ``LiftUpPool`` uses. The defaults differ from the
    paper's layer (``PAPER_OPTIONS``) in four ways, each with a measured reason: see the documentation's
    "The layers" page (``docs/layers.md``). A learned layer with the defaults has ``2 * (C*K + 3*C)`` parameters.

    Args:
        channels: number of input channels C; required for ``lifting="learned"``, checked on input when given.
        kernel_size: length K of the P/U convolution along the lifting axis (paper default 5; even K works).
        lifting: ``learned`` P/U (the paper), or parameter-free ``haar`` or ``legall53`` lifting.
        bands: sub-bands summed into the pooled output: ``"low"`` (default: ``ll`` in 2D; the detail bands are still
            computed for the losses and a paired LiftUpPool), a band name or a list (``("ll", "hh")``), or ``"all"``
            (also None: the paper's LiftDownPool).
        padding_mode: border extension for the P/U filters and to make odd lengths even (see ``PaddingMode``).
        share_weights: one P/U pair for all 1D lifting steps (the paper's); False gives each of the 2**n - 1 steps
            its own pair.
        groups: groups of the K-tap convolution; None = C (depthwise, the paper's parameter count).
        pointwise_groups: groups of the 1-tap convolution; None = C.
        bias: whether the P/U convolutions have biases.
        init: how learned P/U start (``OperatorInit``: ``max``, ``haar`` or ``kaiming``). None (default) picks from
            ``bands``: ``max`` for the low band alone, ``haar`` when it is summed with detail bands, ``kaiming`` for
            detail bands alone.
        activation: the last activation of learned P/U (``OperatorActivation``: ``tanh``, the paper's, or
            ``identity``). None (default): ``identity`` with the ``max`` start, which needs it, else ``tanh``.
        ceil_mode: odd lengths give ceil(n/2) outputs by extending one sample (exactly invertible, as ResNet's stem
            ``MaxPool2d(3, 2, 1)``); False drops the last sample like ``MaxPool2d(2, 2)``.
        compute_losses: compute the constraint losses c_u, c_p in forward (read by ``last_losses``).
        constraint_gradients: where the losses' gradients go (``ConstraintGradients``): ``operators`` (default), to
            P's and U's parameters only, or ``all``, the paper's equations as they stand.
        record_bands: keep the last forward's sub-bands (read by ``last_bands``, used by a paired LiftUpPool).
        detail_weight: with ``bands="low"``, pool ``low + w * (sum of the detail bands)`` with a learned per-channel
            ``w`` that starts at 0: the layer starts as the low-band pool and learns how much detail to add, per
            channel. Needs ``channels``.
        fused: run the default configuration (learned, shared, depthwise P/U) on the first kernel-backed backend
            that serves the input (``nn.backends``); False uses the generic autograd path, needed for double
            backward. Both compute the same function.
        device: device of the P/U parameters.
        dtype: dtype of the P/U parameters.
    """

    spatial_dims: ClassVar[int] = 0
    #: P and U: one ``LearnedLiftingOperator`` each (``share_weights``), an ``nn.ModuleDict`` of them by lifting step,
    #: or a fixed scheme's ``StencilOperator``.
    predict: nn.Module
    update: nn.Module

    def __init__(
        self,
        channels: int | None = None,
        kernel_size: int = 5,
        lifting: LiftingScheme = "learned",
        bands: Sequence[str] | str | None = "low",
        padding_mode: PaddingMode = "symmetric",
        share_weights: bool = True,
        groups: int | None = None,
        pointwise_groups: int | None = None,
        bias: bool = True,
        init: OperatorInit | None = None,
        activation: OperatorActivation | None = None,
        ceil_mode: bool = True,
        compute_losses: bool = True,
        constraint_gradients: ConstraintGradients = "operators",
        record_bands: bool = False,
        detail_weight: bool = False,
        fused: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_choice("lifting", lifting, LIFTING_SCHEMES)
        check_choice("padding_mode", padding_mode, PADDING_MODES)
        check_choice("constraint_gradients", constraint_gradients, CONSTRAINT_GRADIENTS)
        if channels is not None:
            _check_positive_int("channels", channels)
        elif lifting == "learned":
            raise ValueError("channels is required for lifting='learned' (the number of input channels)")
        _check_positive_int("kernel_size", kernel_size)
        self.channels = channels
        self.kernel_size = kernel_size
        self.lifting = lifting
        self.band_names = band_names(self.spatial_dims)
        self.bands = _normalise_bands(bands, self.band_names)
        if init is None:
            low = self.band_names[0]
            init = "max" if self.bands == (low,) else "haar" if low in self.bands else "kaiming"
        if activation is None:
            activation = "identity" if init == "max" else "tanh"
        check_choice("init", init, OPERATOR_INITS)
        check_choice("activation", activation, OPERATOR_ACTIVATIONS)
        self.init = init
        self.activation = activation
        self.padding_mode = padding_mode
        self.share_weights = share_weights or lifting != "learned"
        self.ceil_mode = ceil_mode
        self.compute_losses = compute_losses
        self.constraint_gradients = constraint_gradients
        self.record_bands = record_bands
        self.fused = fused
        self._last_losses: tuple[Tensor, Tensor] | None = None
        self._last_bands: dict[str, Tensor] | None = None
        self._last_input_size: tuple[int, ...] = ()
        self.detail_weight: nn.Parameter | None = None
        if detail_weight:
            if self.bands != (self.band_names[0],):
                raise ValueError(f"detail_weight adds the detail bands to the low band; use it with bands='low', got "
                                 f"bands={self.bands}")  # fmt: skip
            if channels is None:
                raise ValueError("detail_weight needs channels (one learned weight per channel)")
            self.detail_weight = nn.Parameter(torch.zeros(channels, device=device, dtype=dtype))

        if lifting == "learned":
            assert channels is not None
            groups = channels if groups is None else _check_positive_int("groups", groups)
            pointwise_groups = (
                channels if pointwise_groups is None else _check_positive_int("pointwise_groups", pointwise_groups)
            )
            for name, value in (("groups", groups), ("pointwise_groups", pointwise_groups)):
                if channels % value:
                    raise ValueError(f"{name}={value} must divide channels={channels}")

            def make(role: OperatorRole) -> LearnedLiftingOperator:
                return LearnedLiftingOperator(
                    channels,
                    kernel_size,
                    groups,
                    pointwise_groups,
                    padding_mode,
                    bias,
                    device,
                    dtype,
                    self.init,
                    role,
                    activation,
                )

            if self.share_weights:
                self.predict, self.update = make("predict"), make("update")
            else:
                keys = _lift_keys(self.spatial_dims)
                self.predict = nn.ModuleDict({k: make("predict") for k in keys})
                self.update = nn.ModuleDict({k: make("update") for k in keys})
        else:
            self.predict, self.update = fixed_operators(lifting, padding_mode)

    def reset_parameters(self) -> None:
        """Re-initialise every learned P/U (a no-op for fixed schemes); used after ``to_empty`` from meta."""
        for module in self.modules():
            if isinstance(module, LearnedLiftingOperator):
                module.reset_parameters()

    # ------------------------------------------------------------------ helpers
    def _operators(self, key: str) -> tuple[nn.Module, nn.Module]:
        if self.share_weights:
            return self.predict, self.update
        return cast(nn.ModuleDict, self.predict)[key], cast(nn.ModuleDict, self.update)[key]

    def _check_input(self, x: Tensor, name: str = "input") -> None:
        expected = self.spatial_dims + 2
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}: {name} must be a Tensor, got {type(x).__name__}")
        if x.ndim != expected:
            layout = ("N", "C", *("D", "H", "W")[3 - self.spatial_dims :])
            raise ValueError(
                f"{type(self).__name__}: {name} must be {expected}D ({', '.join(layout)}), got shape {tuple(x.shape)}"
            )
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(
                f"{type(self).__name__}: {name} has {x.shape[1]} channels but the layer was built with "
                f"channels={self.channels}"
            )

    def _lift_dim(self, level: int, ndim: int) -> int:
        return ndim - 1 - level

    def _step_backend(self, x: Tensor, inverse: bool = False) -> StepBackend | None:
        """The kernel-backed backend for ``x`` (``backends.select``), or None for the generic path."""
        backend = backends.select(x, self, inverse=inverse)
        return backend if isinstance(backend, StepBackend) else None

    def _operator_weights(self) -> tuple[OperatorWeights, OperatorWeights]:
        """P's and U's parameters, as the step backends take them (a learned, shared, depthwise layer)."""
        predict, update = cast(LearnedLiftingOperator, self.predict), cast(LearnedLiftingOperator, self.update)
        return _weights_of(predict), _weights_of(update)

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` calls this on every module before compiling it: refuse with a pointer to export."""
        raise RuntimeError(_NOT_SCRIPTABLE.format(type(self).__name__))

    # ------------------------------------------------------------------ analysis / synthesis
    def _fused_analysis(
        self, x: Tensor, backend: StepBackend
    ) -> tuple[dict[str, Tensor], Tensor | None, Tensor | None, Tensor]:
        buffer, c_u, c_p = fused_ladder.analysis(
            backend,
            x,
            *self._operator_weights(),
            self.kernel_size,
            self.padding_mode,
            self.ceil_mode,
            self.compute_losses,
            self.constraint_gradients == "all",
            self.activation,
        )
        tensors = {name: buffer[fused_ladder.band_index(name)].movedim(-1, 1) for name in self.band_names}
        return tensors, c_u, c_p, buffer

    def _analysis(self, x: Tensor) -> tuple[dict[str, Tensor], Tensor | None, Tensor | None, Tensor | None]:
        """Sub-bands by name, summed losses, and (fused path) the channels-last buffer holding all bands."""
        backend = self._step_backend(x)
        if backend is not None:
            return self._fused_analysis(x, backend)
        tensors = {"": x}
        c_u: Tensor | None = None
        c_p: Tensor | None = None
        detach = self.constraint_gradients == "operators"
        for level in range(self.spatial_dims):
            dim = self._lift_dim(level, x.ndim)
            axis = AXIS_LETTERS[level]
            names = list(tensors)
            inputs = [even_length(tensors[n], dim, self.ceil_mode, self.padding_mode) for n in names]
            if self.share_weights:  # one step over all tensors of this level, stacked on the batch axis
                batch = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=0)
                step = lift(batch, dim, self.predict, self.update, self.compute_losses, detach)
                lows, highs = _unstack(step.low, len(names)), _unstack(step.high, len(names))
                weighted = [(step, len(names))]  # a mean over the stack: times the number of stacked lifts
            else:
                steps = [
                    lift(t, dim, *self._operators(f"{axis}_{n}" if n else axis), self.compute_losses, detach)
                    for n, t in zip(names, inputs, strict=True)
                ]
                lows, highs = [s.low for s in steps], [s.high for s in steps]
                weighted = [(s, 1) for s in steps]
            if self.compute_losses:
                for step, count in weighted:
                    if step.c_u is None or step.c_p is None:
                        raise RuntimeError("lift(with_losses=True) returned no constraint losses")
                    c_u = step.c_u * count if c_u is None else c_u + step.c_u * count
                    c_p = step.c_p * count if c_p is None else c_p + step.c_p * count
            tensors = {}
            for name, low, high in zip(names, lows, highs, strict=True):
                tensors[name + "l"], tensors[name + "h"] = low, high
        return tensors, c_u, c_p, None

    def reconstruct(self, bands: Mapping[str, Tensor], input_size: Sequence[int]) -> Tensor:
        """Run the lifting ladder backwards: all sub-bands (by name) to a tensor of spatial size ``input_size``."""
        missing = [n for n in self.band_names if n not in bands]
        if missing:
            raise ValueError(f"{type(self).__name__}.reconstruct: bands is missing {', '.join(missing)}")
        shape = bands[self.band_names[0]].shape
        for name in self.band_names:
            self._check_input(bands[name], f"band {name!r}")
            if bands[name].shape != shape:
                raise ValueError(
                    f"{type(self).__name__}.reconstruct: band {name!r} has shape {tuple(bands[name].shape)}, "
                    f"expected {tuple(shape)} like band {self.band_names[0]!r}"
                )
        input_size = tuple(int(s) for s in input_size)
        if len(input_size) != self.spatial_dims:
            raise ValueError(f"input_size must have {self.spatial_dims} entries, got {input_size}")
        low = bands[self.band_names[0]]
        backend = self._step_backend(low, inverse=True)
        if backend is not None:
            buffer = fused_ladder.as_buffer({name: bands[name] for name in self.band_names})
            channels_first = low.is_contiguous()
            out = fused_ladder.synthesis(
                backend,
                buffer,
                input_size,
                *self._operator_weights(),
                self.kernel_size,
                self.padding_mode,
                channels_first,
                self.activation,
            )
            return out.contiguous() if channels_first else out  # an odd size cropped/extended it after the last step
        ndim = self.spatial_dims + 2
        tensors = dict(bands)
        for level in reversed(range(self.spatial_dims)):
            dim = self._lift_dim(level, ndim)
            axis = AXIS_LETTERS[level]
            prefixes = list(band_names(level)) if level else [""]
            length = input_size[dim - 2]
            if self.share_weights:
                lows = [tensors[p + "l"] for p in prefixes]
                highs = [tensors[p + "h"] for p in prefixes]
                low = lows[0] if len(lows) == 1 else torch.cat(lows, dim=0)
                high = highs[0] if len(highs) == 1 else torch.cat(highs, dim=0)
                merged = fit_length(unlift(low, high, dim, self.predict, self.update), dim, length)
                outputs = _unstack(merged, len(prefixes))
            else:
                outputs = []
                for p in prefixes:
                    predict, update = self._operators(f"{axis}_{p}" if p else axis)
                    merged = unlift(tensors[p + "l"], tensors[p + "h"], dim, predict, update)
                    outputs.append(fit_length(merged, dim, length))
            tensors = dict(zip(prefixes, outputs, strict=True))
        return tensors[""]

    # ------------------------------------------------------------------ public API
    def decompose(self, x: Tensor) -> Subbands:
        """All sub-bands of ``x`` (does not touch ``last_losses`` / ``last_bands``)."""
        self._check_input(x)
        tensors, _, _, _ = self._analysis(x)
        return Subbands(tensors, tuple(x.shape[2:]))

    def forward(self, x: Tensor) -> Tensor:
        """Pooled map: the sum of the selected sub-bands; records losses (and bands if ``record_bands``)."""
        self._check_input(x)
        tensors, c_u, c_p, buffer = self._analysis(x)
        self._last_losses = (c_u, c_p) if c_u is not None and c_p is not None else None
        if self.record_bands:
            self._last_bands = tensors
            self._last_input_size = tuple(x.shape[2:])
        if buffer is not None and len(self.bands) == len(self.band_names):
            out = buffer.sum(0).movedim(-1, 1)  # one pass over the buffer
        else:
            out = tensors[self.bands[0]]
            for name in self.bands[1:]:
                out = out + tensors[name]
        if self.detail_weight is not None:
            details = tensors[self.band_names[1]]
            for name in self.band_names[2:]:
                details = details + tensors[name]
            out = out + self.detail_weight.view(1, -1, *(1,) * self.spatial_dims).to(details.dtype) * details
        if buffer is not None and x.is_contiguous():
            out = out.contiguous()  # keep the input's memory format (the buffer is channels-last)
        return out

    @property
    def last_losses(self) -> LiftingLosses | None:
        """Constraint losses (c_u, c_p) of the last forward, summed over its lifting steps; None before any."""
        if self._last_losses is None:
            return None
        return LiftingLosses(*self._last_losses)

    @property
    def last_bands(self) -> Subbands | None:
        """Sub-bands of the last forward when ``record_bands`` is on; None otherwise."""
        if self._last_bands is None:
            return None
        return Subbands(self._last_bands, self._last_input_size)

    def clear(self) -> None:
        """Forget the recorded losses and bands (frees the tensors they hold)."""
        self._last_losses = None
        self._last_bands = None

    def output_size(self, input_size: Sequence[int]) -> tuple[int, ...]:
        """Spatial size of the pooled output for a given spatial input size."""
        return tuple((n + 1) // 2 if self.ceil_mode else n // 2 for n in input_size)

    def extra_repr(self) -> str:
        parts = [f"channels={self.channels}", f"lifting={self.lifting!r}"]
        if self.lifting == "learned":
            parts += [f"kernel_size={self.kernel_size}", f"share_weights={self.share_weights}"]
        parts += [f"bands={self.bands}", f"padding_mode={self.padding_mode!r}", f"ceil_mode={self.ceil_mode}"]
        if self.detail_weight is not None:
            parts.append("detail_weight=True")
        if self.constraint_gradients != "operators":
            parts.append(f"constraint_gradients={self.constraint_gradients!r}")
        return ", ".join(parts)


class LiftDownPool1d(LiftDownPoolNd):
    """LiftDownPool on (N, C, L) signals (audio, sequences): bands ``l``, ``h``."""

    spatial_dims = 1


class LiftDownPool2d(LiftDownPoolNd):
    """LiftDownPool on (N, C, H, W) feature maps: bands ``ll``, ``lh`` (horizontal edges), ``hl`` (vertical), ``hh``."""

    spatial_dims = 2


class LiftDownPool3d(LiftDownPoolNd):
    """LiftDownPool on (N, C, D, H, W) volumes or videos: eight bands ``lll`` ... ``hhh`` (lifted W, H, then D)."""

    spatial_dims = 3
