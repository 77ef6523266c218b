"""liftpool-lightning: LiftPool (Zhao & Snoek, ICLR 2021) layers and a Lightning training framework around them.

The layers are pure torch and importing them imports nothing else::

    from liftpool_lightning import LiftDownPool2d, LiftUpPool2d, lifting_loss

The names below load on first use (PEP 562), so ``import liftpool_lightning`` itself imports nothing heavy and the
``liftpool`` command answers ``--help`` and ``--version`` without loading torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "LiftDownPool1d": "liftpool_lightning.nn",
    "LiftDownPool2d": "liftpool_lightning.nn",
    "LiftDownPool3d": "liftpool_lightning.nn",
    "LiftDownPoolNd": "liftpool_lightning.nn",
    "LiftingLosses": "liftpool_lightning.nn",
    "LiftUpPool1d": "liftpool_lightning.nn",
    "LiftUpPool2d": "liftpool_lightning.nn",
    "LiftUpPool3d": "liftpool_lightning.nn",
    "LiftUpPoolNd": "liftpool_lightning.nn",
    "Subbands": "liftpool_lightning.nn",
    "lifting_loss": "liftpool_lightning.nn",
    "lifting_losses": "liftpool_lightning.nn",
    "SurgeryReport": "liftpool_lightning.surgery",
    "replace_pooling": "liftpool_lightning.surgery",
}

if TYPE_CHECKING:
    from liftpool_lightning.nn import (
        LiftDownPool1d,
        LiftDownPool2d,
        LiftDownPool3d,
        LiftDownPoolNd,
        LiftingLosses,
        LiftUpPool1d,
        LiftUpPool2d,
        LiftUpPool3d,
        LiftUpPoolNd,
        Subbands,
        lifting_loss,
        lifting_losses,
    )
    from liftpool_lightning.surgery import SurgeryReport, replace_pooling


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")  # a subpackage, e.g. liftpool_lightning.nn
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "LiftDownPool1d",
    "LiftDownPool2d",
    "LiftDownPool3d",
    "LiftDownPoolNd",
    "LiftUpPool1d",
    "LiftUpPool2d",
    "LiftUpPool3d",
    "LiftUpPoolNd",
    "LiftingLosses",
    "Subbands",
    "SurgeryReport",
    "__version__",
    "lifting_loss",
    "lifting_losses",
    "replace_pooling",
]
