"""The production LiftDownPool2d computes exactly what the plain reference (benchmarks/) computes: bands, losses and
gradients, so any speed-up keeps the paper's function."""

import pytest
import torch

from benchmarks.reference_liftpool import reference_forward
from liftpool_lightning import LiftDownPool2d


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("padding_mode", ["symmetric", "zeros", "replicate"])
@pytest.mark.parametrize("kernel_size", [2, 5])
def test_production_matches_the_reference(padding_mode: str, kernel_size: int, fused: bool) -> None:
    layer = LiftDownPool2d(
        4,
        kernel_size=kernel_size,
        padding_mode=padding_mode,
        fused=fused,
        dtype=torch.float64,
        constraint_gradients="all",
        init="kaiming",
    )  # the paper, as the reference
    x = torch.randn(2, 4, 8, 12, dtype=torch.float64, requires_grad=True)
    bands, c_u, c_p = reference_forward(layer, x)
    loss_reference = sum(b.square().sum() for b in bands.values()) + c_u + c_p
    grads_reference = torch.autograd.grad(loss_reference, [x, *layer.parameters()])

    production = layer.decompose(x)
    layer(x)
    for name in ("ll", "lh", "hl", "hh"):
        torch.testing.assert_close(production[name], bands[name], rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.last_losses.c_u, c_u, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.last_losses.c_p, c_p, rtol=1e-12, atol=1e-12)
    loss = sum(production[n].square().sum() for n in production) + layer.last_losses.c_u + layer.last_losses.c_p
    for grad, expected in zip(torch.autograd.grad(loss, [x, *layer.parameters()]), grads_reference, strict=True):
        torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-10)


def test_fused_float32_matches_the_reference_in_float64() -> None:
    """The oneDNN kernels (float32 on CPU) against the reference evaluated in float64 with the same parameters."""
    layer = LiftDownPool2d(8, constraint_gradients="all", init="kaiming", bands="all")
    reference = LiftDownPool2d(8, dtype=torch.float64, constraint_gradients="all", init="kaiming", bands="all")
    reference.load_state_dict({k: v.double() for k, v in layer.state_dict().items()})
    x = torch.randn(4, 8, 16, 16)
    x64 = x.double().requires_grad_()
    x = x.requires_grad_()
    bands, c_u, c_p = reference_forward(reference, x64)
    expected = sum(bands.values())
    (expected.square().mean() + c_u + c_p).backward()
    out = layer(x)
    (out.square().mean() + layer.last_losses.c_u + layer.last_losses.c_p).backward()
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-4, atol=1e-7)
    for got, want in zip(layer.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got.grad.double(), want.grad, rtol=1e-4, atol=1e-6)
