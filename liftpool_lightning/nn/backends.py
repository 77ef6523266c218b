"""Which backend runs a LiftPool layer, chosen here and nowhere else: the first of ``BACKENDS`` with no reason
against the input, the generic path last (it serves everything).

* ``native``: C++ kernels, CPU float32/float64 (built on first use; ``LIFTPOOL_NATIVE=0`` turns them off);
* ``triton``: Triton kernels, CUDA float32/bfloat16/float16, opt-in (``LIFTPOOL_TRITON=1``; self-checked);
* ``pytorch``: the steps as PyTorch ops, any device and dtype (the default on CUDA);
* ``generic``: the layer's standard torch ops, differentiated by autograd (every configuration, exports, double
  backward).

``backend_config.use_backend(...)`` narrows the list for a block; ``explain_backend`` says what serves an input and
why each other backend does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import Tensor, nn

from liftpool_lightning.nn import backend_config, fused_lifting, native_lifting, triton_lifting
from liftpool_lightning.nn.backend_base import Backend, GenericBackend, StepBackend, half_lengths, layer_reasons

if TYPE_CHECKING:
    from liftpool_lightning.nn.pool import LiftDownPoolNd

GENERIC = GenericBackend()
BACKENDS: tuple[Backend, ...] = (native_lifting.BACKEND, triton_lifting.BACKEND, fused_lifting.BACKEND, GENERIC)
"""Every backend in order of preference; the generic path last."""
STEP_BACKENDS: tuple[StepBackend, ...] = tuple(b for b in BACKENDS if isinstance(b, StepBackend))
BY_NAME = {backend.name: backend for backend in BACKENDS}
assert tuple(BY_NAME) == backend_config.BACKEND_NAMES


def candidates() -> tuple[tuple[Backend, ...], bool]:
    """The backends to try, in order (those of the innermost ``use_backend`` block, then the generic path), and
    whether they were forced by name."""
    forced = backend_config.forced_backends()
    if forced is None:
        return BACKENDS, False
    return (*(BY_NAME[name] for name in forced if name != GENERIC.name), GENERIC), True


def select(x: Tensor, layer: LiftDownPoolNd, *, inverse: bool = False) -> Backend:
    """The backend that runs ``layer`` on ``x`` (its input, or with ``inverse`` the low band of a LiftUpPool)."""
    backends, forced = candidates()
    if layer_reasons(layer):
        return GENERIC
    lengths = half_lengths(x, layer, inverse)
    for backend in backends:
        if not backend.input_reasons(x, lengths, forced=forced):
            return backend
    return GENERIC  # pragma: no cover - the generic path has no reasons


@dataclass
class BackendReport:
    """What ``explain_backend`` found: the backend chosen and, for every other one, why it was not."""

    layer: str
    input: str
    chosen: str
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.layer} on {self.input}: {self.chosen}"]
        for name, reasons in self.reasons.items():
            lines.append(f"  {name}: {'; '.join(reasons) if reasons else 'would serve it, after ' + self.chosen}")
        return "\n".join(lines)


def explain_backend(layer: nn.Module, x: Tensor) -> BackendReport:
    """Which backend serves ``layer`` (a LiftDownPool, or a LiftUpPool with ``x`` its low input) on ``x``, and why
    each other backend does not (runs the C++ build or the Triton self-check where they are next in line)."""
    from liftpool_lightning.nn.pool import LiftDownPoolNd
    from liftpool_lightning.nn.up_pool import LiftUpPoolNd

    inverse = isinstance(layer, LiftUpPoolNd)
    down = layer.down if inverse else layer
    if not isinstance(down, LiftDownPoolNd):
        raise TypeError(f"explain_backend: layer must be a LiftDownPool or LiftUpPool, got {type(layer).__name__}")
    chosen = select(x, down, inverse=inverse)
    backends, forced = candidates()
    report = BackendReport(type(layer).__name__, f"{x.device} {x.dtype} {tuple(x.shape)}", chosen.name)
    for backend in backends:
        if backend is not chosen:
            report.reasons[backend.name] = backend.unsupported_reasons(x, down, inverse=inverse, forced=forced)
    for backend in BACKENDS:
        if backend not in backends:
            names = ", ".join(map(repr, backend_config.forced_backends() or ()))
            report.reasons[backend.name] = [f"left out by use_backend({names})"]
    return report
