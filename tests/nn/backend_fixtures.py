"""Run a test on one step backend of the registry (``nn.backends.STEP_BACKENDS``): a backend added there joins every
battery that takes ``backend_params()``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import pytest

from liftpool_lightning.nn import backend_config, native_lifting, triton_lifting
from liftpool_lightning.nn.backends import STEP_BACKENDS

INTERPRETED = {"triton"}  # on CPU through Triton's interpreter: ~10 s a test, under -m interpreter


def backend_params() -> list:
    """Every step backend as a pytest parameter, those run through an interpreter marked ``interpreter``."""
    return [
        pytest.param(b.name, marks=[pytest.mark.interpreter] if b.name in INTERPRETED else []) for b in STEP_BACKENDS
    ]


def skip_reason(name: str) -> str | None:
    """Why ``name`` cannot run on this machine's CPU (None: it can); a failed C++ build fails the test instead."""
    if name == "native":
        if not backend_config.native_enabled() or not sys.platform.startswith("linux"):
            return "C++ kernels off (LIFTPOOL_NATIVE=0) or not built here (Linux only)"
        assert native_lifting.built(), "the C++ kernels did not build (see the warning above)"
    if name == "triton":
        if not triton_lifting.available():
            return "Triton is not installed"
        if not backend_config.triton_interpreted():
            return "the Triton kernels run on CPU tensors only through TRITON_INTERPRET=1 (tests/conftest.py sets it "
            "where there is no GPU; on a GPU machine they are tested on CUDA: -m gpu)"
    return None


@contextlib.contextmanager
def backend_under_test(name: str) -> Iterator[None]:
    """The block runs on backend ``name``, and where it does not serve an input (float64 for Triton) on the PyTorch
    steps; skips where ``name`` cannot run here."""
    reason = skip_reason(name)
    if reason:
        pytest.skip(reason)
    with backend_config.use_backend(name, "pytorch"):
        yield
