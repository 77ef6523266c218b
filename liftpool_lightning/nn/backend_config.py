"""Every switch that decides which backend runs a LiftPool layer's lifting steps, and nothing else.

Environment variables (read at each call, so a test or a launcher can change them):

* ``LIFTPOOL_NATIVE=0``: never build or use the C++ CPU kernels;
* ``LIFTPOOL_TRITON=1``: use the Triton kernels on CUDA (off by default until the GPU check has passed on real
  hardware; each (device, dtype) is self-checked against the PyTorch steps on first use);
* ``TRITON_INTERPRET=1``: Triton's own switch, which runs its kernels on CPU tensors (slowly; for tests).

Context managers: ``use_backend(...)`` forces the backends of a block; ``use_backend("generic")`` keeps every
``liftpool::`` custom op out of a traced graph (what ``export.export_model`` exports under). The layer argument
``fused=False`` is the per-layer switch to the generic path.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import torch

BACKEND_NAMES = ("native", "triton", "pytorch", "generic")
"""Every backend by name, in the default order of preference (see ``backends.BACKENDS``)."""

_forced: list[tuple[str, ...]] = []  # the names of the open use_backend() blocks, innermost last


@contextlib.contextmanager
def use_backend(*names: str) -> Iterator[None]:
    """Within the block the layers try only ``names``, in that order, then the generic path.

    ``use_backend("pytorch")`` runs the PyTorch steps where the C++ kernels would (to compare or time them),
    ``use_backend("triton", "pytorch")`` the Triton kernels where they apply (on CPU tensors too, under
    ``TRITON_INTERPRET=1``; without the first-use self-check and whatever ``LIFTPOOL_TRITON`` says),
    ``use_backend("generic")`` standard torch ops only. The innermost block wins. Not thread-local.
    """
    if not names:
        raise ValueError(f"use_backend needs at least one backend name: {', '.join(BACKEND_NAMES)}")
    for name in names:
        if name not in BACKEND_NAMES:
            raise ValueError(f"use_backend: unknown backend {name!r}; choose from {', '.join(BACKEND_NAMES)}")
    _forced.append(tuple(names))
    try:
        yield
    finally:
        _forced.pop()


def forced_backends() -> tuple[str, ...] | None:
    """The names of the innermost open ``use_backend`` block, or None outside any."""
    return _forced[-1] if _forced else None


def native_enabled() -> bool:
    """``LIFTPOOL_NATIVE`` is not ``0``."""
    return os.environ.get("LIFTPOOL_NATIVE", "1") != "0"


def triton_enabled() -> bool:
    """``LIFTPOOL_TRITON=1``: the Triton kernels take CUDA tensors (self-checked on first use)."""
    return os.environ.get("LIFTPOOL_TRITON", "0") == "1"


def triton_interpreted() -> bool:
    """``TRITON_INTERPRET=1``: Triton runs its kernels on CPU tensors through its interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


# Before PyTorch 2.14 TorchDynamo answered torch.compiler.is_exporting() with a constant True, under torch.compile
# too (pytorch/pytorch#176347, fixed by #176499): there a compiled model would have taken the generic path. Release
# numbers only: a 2.14 pre-release or source build ("2.14.0a0+git...") counts as 2.14.
_DYNAMO_KNOWS_EXPORT = tuple(int(part) for part in re.findall(r"\d+", torch.__version__)[:2]) >= (2, 14)


def exporting() -> bool:
    """Whether this call is traced by a graph export (``torch.export``, the dynamo-based ONNX exporter, the
    TorchScript-based one), whose graphs must hold standard ops only. Before PyTorch 2.14 an export that traces with
    TorchDynamo (``strict=True``, the default before 2.7) cannot be told from torch.compile, which must get the
    kernels: there only exports outside TorchDynamo count, and ``use_backend("generic")`` covers the rest."""
    if torch.onnx.is_in_onnx_export():
        return True
    if not torch.compiler.is_exporting():
        return False
    return _DYNAMO_KNOWS_EXPORT or not torch.compiler.is_dynamo_compiling()
