"""The ``[hub]`` extra (huggingface_hub, safetensors): importing its packages, with the install hint when absent."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRA_HINT = "pip install 'liftpool-lightning[hub]'"


def require_extra(name: str, purpose: str) -> ModuleType:
    """Import ``name``, or raise ImportError naming the ``[hub]`` extra."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(f"{purpose} needs the '{name}' package: {EXTRA_HINT}") from error
