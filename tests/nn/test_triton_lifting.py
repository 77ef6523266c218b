"""The Triton kernels (``nn/triton_lifting.py``) in the default run: a few cases through Triton's interpreter on CPU
(the whole battery of ``test_fused_lifting.py`` runs them with ``-m slow``), and where ``step_implementations``
chooses them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
import torch

from liftpool_lightning.nn import (
    LiftDownPool1d,
    LiftDownPool2d,
    LiftUpPool1d,
    LiftUpPool2d,
    fused_lifting,
    native_lifting,
    triton_lifting,
)
from liftpool_lightning.nn.step_implementations import steps_for
from tests.nn.triton_parity import TRITON_CASES as CASES
from tests.nn.triton_parity import outputs, triton_case

pytestmark = pytest.mark.skipif(
    not triton_lifting.available() or (not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1"),
    reason="needs Triton, and a GPU or TRITON_INTERPRET=1 set before the kernels were defined (tests/conftest.py)",
)


@contextlib.contextmanager
def _triton() -> Iterator[None]:
    with native_lifting.pytorch_steps(), triton_lifting.triton_steps():
        yield


@pytest.mark.parametrize(
    ("down_class", "up_class", "shape", "options"),
    [
        (LiftDownPool2d, LiftUpPool2d, (2, 4, 7, 10), {"padding_mode": "symmetric"}),
        (
            LiftDownPool1d,
            LiftUpPool1d,
            (2, 3, 11),
            {"padding_mode": "zeros", "bias": False, "kernel_size": 4, "constraint_gradients": "all", "init": "max"},
        ),
    ],
    ids=["2d-operators-tanh", "1d-all-identity-no-bias"],
)
def test_triton_matches_the_generic_path(down_class: type, up_class: type, shape: tuple, options: dict) -> None:
    options = {"bands": "all", "init": "kaiming", **options}
    triton_layer = down_class(shape[1], **options)
    generic = down_class(shape[1], fused=False, **options)
    generic.load_state_dict(triton_layer.state_dict())
    x = torch.randn(*shape, requires_grad=True)
    with _triton():
        got = outputs(triton_layer, up_class, x)
    expected = outputs(generic, up_class, x)
    for result, wanted in zip(got, expected, strict=True):
        torch.testing.assert_close(result, wanted, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.bfloat16, marks=pytest.mark.interpreter)])
@pytest.mark.parametrize("name", [n if "1d" in n else pytest.param(n, marks=pytest.mark.interpreter) for n in CASES])
def test_the_gpu_parity_cases_pass_through_the_interpreter(name: str, dtype: torch.dtype) -> None:
    """``test_cuda.py`` runs these on a GPU with the compiled kernels: here the test itself is checked (2D and 3D
    take 1-3 minutes each through the interpreter: ``-m interpreter``)."""
    with _triton():
        triton_case(name, "cpu", dtype)


def test_bfloat16_features_stay_bfloat16_with_float32_losses() -> None:
    layer = LiftDownPool2d(4, bands="all", init="kaiming")
    x = torch.randn(2, 4, 8, 8)
    reference = layer(x)
    with _triton():
        pooled = layer(x.bfloat16())
        losses = layer.last_losses
    assert pooled.dtype == torch.bfloat16 and losses.c_u.dtype == losses.c_p.dtype == torch.float32
    torch.testing.assert_close(pooled.float(), reference, rtol=2e-2, atol=2e-2)


def test_the_implementation_is_chosen_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(1, 2, 4, 4)
    with native_lifting.pytorch_steps():
        assert steps_for(x) is fused_lifting  # a CPU tensor: Triton only inside triton_steps()
        with triton_lifting.triton_steps():
            assert steps_for(x) is triton_lifting
            assert steps_for(x.double()) is fused_lifting  # float64: the PyTorch steps
            assert steps_for(torch.randn(1, 2, 4, 2 * triton_lifting.MAX_LENGTH + 2)) is fused_lifting  # long rows
            monkeypatch.setenv("LIFTPOOL_TRITON", "0")
            assert steps_for(x) is fused_lifting
