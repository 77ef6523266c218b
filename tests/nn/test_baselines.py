"""The baseline pools' values against their definitions written out sample by sample."""

import numpy as np
import pytest
import torch

from liftpool_lightning.nn.baselines import BlurPool, GatedPool


def numpy_blur(x: np.ndarray, stride: int) -> np.ndarray:
    """[1, 2, 1] / 4 along every spatial axis of (N, C, *s), reflect padding, then every ``stride``-th sample."""
    for axis in range(2, x.ndim):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 1)
        padded = np.pad(x, pad, mode="reflect")
        n = x.shape[axis]
        x = (
            padded.take(range(0, n), axis) + 2 * padded.take(range(1, n + 1), axis) + padded.take(range(2, n + 2), axis)
        ) / 4
    index = (slice(None), slice(None), *(slice(None, None, stride) for _ in x.shape[2:]))
    return x[index]


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
@pytest.mark.parametrize("stride", [1, 2])
def test_blur_pool_is_the_binomial_filter_on_every_channel(spatial_dims: int, stride: int) -> None:
    x = torch.randn(2, 3, *([5, 6, 7][:spatial_dims]), dtype=torch.float64)
    out = BlurPool(stride=stride, spatial_dims=spatial_dims)(x)
    np.testing.assert_allclose(out.numpy(), numpy_blur(x.numpy(), stride), rtol=1e-12, atol=1e-12)


def test_blur_pool_keeps_the_input_dtype_and_passes_gradients() -> None:
    x = torch.randn(1, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BlurPool(), (x,))
    assert BlurPool()(x.detach().to(torch.bfloat16)).dtype == torch.bfloat16


def test_gated_pool_gate_is_one_filter_shared_by_the_channels() -> None:
    """Each channel's gate is the same filter over its own 2x2 windows, and gradients reach that filter."""
    torch.manual_seed(0)
    pool = GatedPool(kernel_size=2).double()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    out = pool(x)
    w = pool.gate_weight.detach()[0, 0]
    windows = x.unfold(2, 2, 2).unfold(3, 2, 2)  # (N, C, 2, 2, kh, kw)
    gate = torch.sigmoid((windows * w).sum((-1, -2)))
    expected = gate * windows.amax((-1, -2)) + (1 - gate) * windows.mean((-1, -2))
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert pool.gate_weight.grad is not None and pool.gate_weight.grad.abs().sum() > 0
