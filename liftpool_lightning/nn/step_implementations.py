"""Which implementation runs the fused lifting steps of a tensor, chosen here and nowhere else.

Every implementation is a module with the same two functions, ``lift_rows`` and ``unlift_rows`` (arguments and
results as in ``fused_lifting``), and computes the same function; ``tests/nn/test_fused_lifting.py`` runs one battery
over all of them. In order of preference:

* ``native_lifting``: C++ kernels, CPU float32/float64 (built on first use; ``LIFTPOOL_NATIVE=0`` turns them off);
* ``triton_lifting``: Triton kernels, CUDA float32/bfloat16/float16 rows of up to ``triton_lifting.MAX_LENGTH``
  samples per half (``LIFTPOOL_TRITON=0`` turns them off; ``triton_lifting.triton_steps()`` runs them on CPU tensors
  under ``TRITON_INTERPRET=1``, for the tests);
* ``fused_lifting``: PyTorch steps (cuDNN/oneDNN convolutions inside custom ops), everything else.
"""

from __future__ import annotations

from types import ModuleType

from torch import Tensor

from liftpool_lightning.nn import fused_lifting, native_lifting, triton_lifting


def steps_for(x: Tensor) -> ModuleType:
    """The implementation for a ladder on ``x`` (the layer's ``(N, C, *S)`` input or a band buffer)."""
    if native_lifting.serves(x):
        return native_lifting
    if triton_lifting.serves(x):
        return triton_lifting
    return fused_lifting
