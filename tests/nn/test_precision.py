"""LiftDownPool / LiftUpPool under every precision Lightning offers (``64-true``, ``32-true``, ``bf16-mixed``,
``16-mixed``, ``bf16-true``, ``16-true``), through Lightning's own precision plugins: outputs, constraint losses and
every gradient agree with the float64 generic autograd path within the precision's tolerance, and the losses are
accumulated in float32 (float64 for ``64-true``).

Each case runs on both CPU step implementations: the default one (C++ kernels for float32/64) and the CUDA branch's
PyTorch steps on the CPU stand-in (``tests/conftest.py``: C++ kernels off, oneDNN off), so a dtype bug of the GPU
path fails here. Compiled cases (torch.compile, eager backend work included) are in ``slow`` except one.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import pytest
import torch
from lightning.pytorch.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from torch import Tensor, nn

from liftpool_lightning.nn import (
    LiftDownPool1d,
    LiftDownPool2d,
    LiftDownPool3d,
    LiftUpPool1d,
    LiftUpPool2d,
    LiftUpPool3d,
    lifting_loss,
)
from tests.nn.backend_fixtures import backend_under_test

PAIRS = {1: (LiftDownPool1d, LiftUpPool1d), 2: (LiftDownPool2d, LiftUpPool2d), 3: (LiftDownPool3d, LiftUpPool3d)}
SHAPES = {1: (2, 4, 18), 2: (2, 4, 10, 12), 3: (2, 4, 6, 6, 8)}
PRECISIONS = ["64-true", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true"]
# ||result - reference|| / ||reference|| allowed, by the precision the steps compute in (the mixed precisions run
# them in float32: their autocast rule); float16/bfloat16 features are compared with PyTorch's autograd in the same
# dtype as well (``_check``), with their unit roundoff as the floor.
RELATIVE_ERROR = {"64-true": 1e-12, "32-true": 1e-5, "bf16-mixed": 1e-5, "16-mixed": 1e-5, "bf16-true": 0.2,
                  "16-true": 0.05}  # fmt: skip
HALF_ROUNDOFF = {"bf16-true": 2.0**-8, "16-true": 2.0**-11}
LOSS_DTYPE = {"64-true": torch.float64}  # float32 for every other precision


def _plugin(precision: str) -> Precision:
    if precision.endswith("-mixed"):
        return MixedPrecision(precision, "cpu")  # type: ignore[arg-type]
    if precision == "64-true":
        return DoublePrecision()
    if precision == "32-true":
        return Precision()
    return HalfPrecision(precision)  # type: ignore[arg-type]


def _relative_error(result: Tensor, reference: Tensor) -> float:
    reference = reference.detach()
    return float((result.detach().double() - reference).norm() / reference.norm().clamp_min(1e-30))


def _run(down: nn.Module, x: Tensor, dims: int, kind: str, compiled: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Output (the pooled map, or the rebuilt input for ``up``) and both losses; the loss the backward starts from
    is computed in float32 as a task's would be."""
    if kind == "down":
        forward = down
    else:
        up = PAIRS[dims][1](down)

        def forward(x: Tensor) -> Tensor:
            return up(down(x) * 0.5)

    out = (torch.compile(forward, backend="aot_eager") if compiled else forward)(x)
    losses = down.last_losses
    (out.float().square().mean() + lifting_loss(down)).backward()
    return out, losses.c_u, losses.c_p


def _errors(precision: str, dims: int, kind: str, compiled: bool, fused: bool) -> tuple[dict[str, float], Tensor]:
    """Relative error of the output, both losses and every gradient of a layer run under ``precision`` against the
    float64 generic path (same parameters and input, values float32 holds), and the losses' dtype."""
    torch.manual_seed(0)
    reference = PAIRS[dims][0](4, bands="all", init="kaiming", fused=False, dtype=torch.float64)
    with torch.no_grad():  # P/U clearly non-trivial, so every term of the gradients matters; values float32 holds
        for parameter in reference.parameters():
            parameter.copy_((parameter * 3.0).float())
    x = (torch.randn(SHAPES[dims], dtype=torch.float64) * 2.0).float().double()
    plugin = _plugin(precision)
    layer = plugin.convert_module(copy.deepcopy(reference).float())
    layer.fused = fused
    x_input = plugin.convert_input(x.float()).detach().requires_grad_()
    with plugin.forward_context():
        out, c_u, c_p = _run(layer, x_input, dims, kind, compiled)
    x_reference = x.clone().requires_grad_()
    expected, expected_c_u, expected_c_p = _run(reference, x_reference, dims, kind, compiled=False)
    compared = {"output": (out, expected), "c_u": (c_u, expected_c_u), "c_p": (c_p, expected_c_p),
                "input gradient": (x_input.grad, x_reference.grad)}  # fmt: skip
    for (name, parameter), (_, expected_parameter) in zip(
        layer.named_parameters(), reference.named_parameters(), strict=True
    ):
        compared[f"{name} gradient"] = (parameter.grad, expected_parameter.grad)
    for name, (result, _) in compared.items():
        assert torch.isfinite(result).all(), name
    return {name: _relative_error(result, wanted) for name, (result, wanted) in compared.items()}, c_u


def _check(precision: str, dims: int, kind: str, compiled: bool) -> None:
    errors, c_u = _errors(precision, dims, kind, compiled, fused=True)
    assert c_u.dtype == LOSS_DTYPE.get(precision, torch.float32)
    shown = {name: f"{error:.1e}" for name, error in errors.items()}
    assert max(errors.values()) <= RELATIVE_ERROR[precision], shown
    if precision in HALF_ROUNDOFF:
        # float16/bfloat16 features: as accurate as PyTorch's autograd of the same equations in that dtype, up to
        # rounding order (its parameter gradients sum many rounded, partly cancelling products: errors of a few 1e-2
        # in bfloat16; the fused steps round in another order: up to 2.9x autograd's error measured, on a 6e-4 error)
        generic, _ = _errors(precision, dims, kind, compiled=False, fused=False)
        allowed = {name: 3 * error + 4 * HALF_ROUNDOFF[precision] for name, error in generic.items()}
        worse = {name: f"{errors[name]:.1e} > {allowed[name]:.1e}" for name in errors if errors[name] > allowed[name]}
        assert not worse, worse


@pytest.fixture(params=["default", "cuda_standin", pytest.param("triton", marks=pytest.mark.interpreter)])
def steps(request: pytest.FixtureRequest, cuda_standin: contextlib.AbstractContextManager) -> Iterator[str]:
    """The default CPU steps, then the CUDA branch's PyTorch steps on the CPU stand-in, then (``-m slow``) the Triton
    kernels through Triton's interpreter."""
    if request.param == "triton":
        with cuda_standin, backend_under_test("triton"):
            yield request.param
        return
    with cuda_standin if request.param == "cuda_standin" else contextlib.nullcontext():
        yield request.param


@pytest.mark.parametrize("kind", ["down", "up"])
@pytest.mark.parametrize("dims", [2, pytest.param(1, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_matches_the_float64_generic_path(precision: str, dims: int, kind: str, steps: str) -> None:
    if steps == "triton" and kind == "up" and (precision, dims) in {("bf16-true", 3), ("16-true", 1), ("16-true", 3)}:
        pytest.xfail(
            "measured: the Triton steps' LiftUpPool parameter gradients in bfloat16/float16 exceed the "
            "bound relative to autograd up to 2.4x (bf16-true 3D: predict.bias 6.7e-2 > 2.8e-2): in bfloat16 Triton's "
            "interpreter truncates float32 -> bfloat16 (a GPU rounds to nearest); in float16 the per-channel sums "
            "(biases, pointwise weights) lose it between the steps (16-true 3D predict.bias 9.7e-3, autograd 6.8e-4; "
            "each kernel alone faithful: benchmarks/triton_half_precision.py); open"
        )
    _check(precision, dims, kind, compiled=False)


def test_compiled_bf16_mixed_matches_the_float64_generic_path(cuda_standin: contextlib.AbstractContextManager) -> None:
    with cuda_standin:
        _check("bf16-mixed", 2, "up", compiled=True)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["down", "up"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_compiled_every_precision_matches_the_float64_generic_path(precision: str, kind: str, steps: str) -> None:
    _check(precision, 2, kind, compiled=True)


def test_float16_losses_do_not_overflow(cuda_standin: contextlib.AbstractContextManager) -> None:
    """A mean of squares taken in float16 is inf beyond 65504; the layer's is accumulated in float32."""
    layer = LiftDownPool2d(8, bands="all", init="kaiming", dtype=torch.float16)
    reference = LiftDownPool2d(8, bands="all", init="kaiming", dtype=torch.float64, fused=False)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(4, 8, 16, 16, dtype=torch.float64) * 400.0
    reference(x)
    with cuda_standin:
        layer(x.half())
    for name in ("c_u", "c_p"):
        value, expected = getattr(layer.last_losses, name), getattr(reference.last_losses, name)
        assert expected > 65504  # what a float16 accumulation could not hold
        assert value.dtype == torch.float32
        assert abs(float(value) / float(expected) - 1) < 1e-2, name
