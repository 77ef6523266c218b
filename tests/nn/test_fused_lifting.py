"""The fused path (custom ops on a channels-last band buffer) computes what the generic autograd path computes:
outputs, bands, losses and every gradient, for LiftDownPool and LiftUpPool in 1D/2D/3D, every padding mode, odd
sizes, both ceil modes, channel slices; every test runs on every step backend of the registry
(``tests/nn/backend_fixtures.py``): the C++ kernels, the PyTorch steps (oneDNN for float32/bfloat16, plain
convolutions for float64) and, under ``-m interpreter``, the Triton kernels through Triton's interpreter."""

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from liftpool_lightning import (
    LiftDownPool1d,
    LiftDownPool2d,
    LiftDownPool3d,
    LiftUpPool1d,
    LiftUpPool2d,
    LiftUpPool3d,
    lifting_loss,
)
from liftpool_lightning.nn import fused_lifting
from liftpool_lightning.nn._step_common import Padding
from liftpool_lightning.nn.backend_base import layer_reasons
from liftpool_lightning.nn.fused_ladder import band_index
from liftpool_lightning.nn.fused_lifting import _pad_rows
from liftpool_lightning.nn.padding import pad_axis
from tests.nn.backend_fixtures import backend_params, backend_under_test

PAIRS = {1: (LiftDownPool1d, LiftUpPool1d), 2: (LiftDownPool2d, LiftUpPool2d), 3: (LiftDownPool3d, LiftUpPool3d)}
TOLERANCE = {torch.float64: {"rtol": 1e-9, "atol": 1e-11}, torch.float32: {"rtol": 2e-4, "atol": 2e-5}}


@pytest.fixture(autouse=True, params=backend_params())
def kernels(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on each step backend (Triton: float32 and lower; float64 tests run the PyTorch steps there;
    ``test_triton_lifting.py`` has a few Triton cases in the default run)."""
    with backend_under_test(request.param):
        yield request.param


def _pair(dims: int, dtype: torch.dtype, **options: object) -> tuple[nn.Module, nn.Module]:
    """A fused and a generic LiftDownPool with the same parameters."""
    down = PAIRS[dims][0]
    fused = down(4, dtype=dtype, **options, init="kaiming")
    generic = down(4, dtype=dtype, fused=False, **options, init="kaiming")
    generic.load_state_dict(fused.state_dict())
    return fused, generic


def _run(layer: nn.Module, x: torch.Tensor, dims: int) -> tuple[torch.Tensor, ...]:
    """Down then up (half of the pooled map as ``low``) with all losses; returns outputs and all gradients."""
    up = PAIRS[dims][1](layer)
    pooled = layer(x)
    rebuilt = up(pooled * 0.5)
    loss = pooled.square().mean() + rebuilt.sin().mean() + lifting_loss(layer, 0.3, 0.7)
    return (pooled, rebuilt, *layer.last_losses, *torch.autograd.grad(loss, [x, *layer.parameters()]))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    ("dims", "shape"), [(1, (2, 4, 9)), (2, (2, 4, 8, 12)), (2, (3, 4, 7, 5)), (2, (1, 4, 1, 3)), (3, (2, 4, 5, 6, 3))]
)
@pytest.mark.parametrize("padding_mode", ["symmetric", "zeros", "reflect", "replicate", "circular"])
def test_fused_matches_generic(dims: int, shape: tuple[int, ...], padding_mode: str, dtype: torch.dtype) -> None:
    fused, generic = _pair(dims, dtype, padding_mode=padding_mode)
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    for got, expected in zip(_run(fused, x, dims), _run(generic, x, dims), strict=True):
        torch.testing.assert_close(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("dims", "shape"), [(1, (2, 4, 9)), (2, (3, 4, 7, 5)), (3, (2, 4, 5, 6, 3))])
def test_fused_matches_generic_with_the_papers_constraint_gradients(
    dims: int, shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    """``constraint_gradients="all"`` (the losses' gradients reach the input too); the tests above use the default."""
    fused, generic = _pair(dims, dtype, constraint_gradients="all")
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    for got, expected in zip(_run(fused, x, dims), _run(generic, x, dims), strict=True):
        torch.testing.assert_close(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("dims", "shape"), [(1, (2, 4, 9)), (2, (3, 4, 7, 5)), (3, (2, 4, 5, 6, 3))])
@pytest.mark.parametrize("constraint_gradients", ["operators", "all"])
def test_fused_matches_generic_without_the_tanh(
    dims: int, shape: tuple[int, ...], constraint_gradients: str, dtype: torch.dtype
) -> None:
    """``activation="identity"`` (P and U end without the paper's tanh), away from the initialisation."""
    fused, generic = _pair(dims, dtype, activation="identity", constraint_gradients=constraint_gradients)
    with torch.no_grad():
        for parameter in fused.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    generic.load_state_dict(fused.state_dict())
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    for got, expected in zip(_run(fused, x, dims), _run(generic, x, dims), strict=True):
        torch.testing.assert_close(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("kernel_size", [1, 2, 4, 7])
@pytest.mark.parametrize("ceil_mode", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_matches_generic_across_options(kernel_size: int, ceil_mode: bool, bias: bool) -> None:
    fused, generic = _pair(2, torch.float64, kernel_size=kernel_size, ceil_mode=ceil_mode, bias=bias)
    x = torch.randn(2, 4, 9, 6, dtype=torch.float64, requires_grad=True)
    for got, expected in zip(_run(fused, x, 2), _run(generic, x, 2), strict=True):
        torch.testing.assert_close(got, expected, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("bands", ["ll", ("hh", "lh")])
def test_fused_bands_and_subsets_match_generic(bands: object) -> None:
    fused, generic = _pair(2, torch.float64, bands=bands)
    x = torch.randn(2, 4, 8, 6, dtype=torch.float64)
    torch.testing.assert_close(fused(x), generic(x), rtol=1e-12, atol=1e-12)
    got, expected = fused.decompose(x), generic.decompose(x)
    for name in ("ll", "lh", "hl", "hh"):
        torch.testing.assert_close(got[name], expected[name], rtol=1e-12, atol=1e-12)


def test_fused_round_trip_is_exact() -> None:
    down = LiftDownPool2d(6, dtype=torch.float64, init="kaiming")
    up = LiftUpPool2d(down)
    x = torch.randn(2, 6, 11, 14, dtype=torch.float64)
    bands = down.decompose(x)
    assert (up(bands.ll, bands) - x).abs().max() < 1e-13


def test_fused_without_losses_leaves_them_unset() -> None:
    fused, generic = _pair(2, torch.float64, compute_losses=False)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(fused(x), generic(x))
    assert fused.last_losses is None
    grads = torch.autograd.grad(fused(x).sum(), [x, *fused.parameters()])
    expected = torch.autograd.grad(generic(x).sum(), [x, *generic.parameters()])
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_outputs_keep_the_input_memory_format(memory_format: torch.memory_format) -> None:
    down = LiftDownPool2d(8, init="kaiming")
    up = LiftUpPool2d(down)
    x = torch.randn(2, 8, 10, 12).contiguous(memory_format=memory_format).requires_grad_()
    pooled = down(x)
    rebuilt = up(pooled.contiguous(memory_format=memory_format))
    assert pooled.is_contiguous(memory_format=memory_format)
    assert rebuilt.is_contiguous(memory_format=memory_format)
    rebuilt.sum().backward()
    assert x.grad.shape == x.shape


def test_bfloat16_autocast_trains(kernels: str) -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    down = LiftDownPool2d(8, init="kaiming")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pooled = down(conv(torch.randn(2, 3, 16, 16)))
        loss = pooled.float().square().mean() + lifting_loss(down)
    loss.backward()
    # the PyTorch and C++ steps' autocast rule: computed in float32; the Triton kernels read and write the bfloat16
    # features as they come and compute in float32 inside
    assert pooled.dtype == (torch.bfloat16 if kernels == "triton" else torch.float32)
    assert torch.isfinite(loss)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in down.parameters())


def test_double_backward_needs_the_generic_path() -> None:
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    fused, generic = _pair(2, torch.float64)
    (grad,) = torch.autograd.grad(generic(x).square().sum(), x, create_graph=True)
    grad.square().sum().backward()  # a gradient penalty works with fused=False
    (grad,) = torch.autograd.grad(fused(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="fused=False"):
        grad.square().sum().backward()


def test_the_inverse_step_is_differentiable_once() -> None:
    down = LiftDownPool2d(4, dtype=torch.float64, init="kaiming")
    generic = LiftDownPool2d(4, dtype=torch.float64, init="kaiming", fused=False)
    generic.load_state_dict(down.state_dict())
    bands = down.decompose(torch.randn(2, 4, 8, 8, dtype=torch.float64))
    low = bands.ll.clone().requires_grad_()
    (grad,) = torch.autograd.grad(LiftUpPool2d(down)(low, bands).square().sum(), low, create_graph=True)
    (expected,) = torch.autograd.grad(LiftUpPool2d(generic)(low, bands).square().sum(), low)
    assert torch.allclose(grad, expected, atol=1e-12)
    with pytest.raises(RuntimeError, match="fused=False"):
        grad.square().sum().backward()


def test_non_default_configurations_take_the_generic_path() -> None:
    x = torch.randn(1, 8, 4, 4)
    assert not layer_reasons(LiftDownPool2d(8)) and LiftDownPool2d(8)._step_backend(x) is not None
    for options, reason in [
        ({"fused": False}, "fused=False"),
        ({"groups": 2}, "groups=2"),
        ({"pointwise_groups": 1}, "pointwise_groups=1"),
        ({"share_weights": False}, "share_weights=False"),
        ({"lifting": "haar"}, "lifting='haar'"),
    ]:
        layer = LiftDownPool2d(8, **options)
        assert reason in " ".join(layer_reasons(layer)), options
        assert layer._step_backend(x) is None, options


def test_onednn_flag_off_uses_plain_convolutions() -> None:
    fused, generic = _pair(2, torch.float32)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with torch.backends.mkldnn.flags(enabled=False):
        assert not fused_lifting._onednn(x)
        results = _run(fused, x, 2)
    for got, expected in zip(results, _run(generic, x, 2), strict=True):
        torch.testing.assert_close(got, expected, **TOLERANCE[torch.float32])


@pytest.mark.parametrize("mode", ["zeros", "symmetric", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("length", [1, 2, 5])
def test_row_padding_and_its_gradient_match_pad_axis(mode: str, length: int) -> None:
    z = torch.randn(2, length, 3, 4, dtype=torch.float64, requires_grad=True)
    padding = Padding(2, 3, mode)
    padded = _pad_rows(z, padding)
    expected = pad_axis(z, 1, 2, 3, mode)
    torch.testing.assert_close(padded, expected, rtol=0, atol=0)
    grad = torch.randn_like(padded)
    (want,) = torch.autograd.grad(expected, z, grad)
    got = fused_lifting._add_unpadded(torch.zeros_like(z), grad, padding)
    torch.testing.assert_close(got, want)


def test_band_index_follows_band_names() -> None:
    assert [band_index(n) for n in ("ll", "hl", "lh", "hh")] == [0, 1, 2, 3]
    assert band_index("lhh") == 6
