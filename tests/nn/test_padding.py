"""pad_axis against numpy.pad, including pads longer than the signal (where F.pad's reflect/circular fail)."""

import numpy as np
import pytest
import torch

from liftpool_lightning.nn.padding import pad_axis

NUMPY_MODE = {
    "zeros": "constant",
    "reflect": "reflect",
    "symmetric": "symmetric",
    "replicate": "edge",
    "circular": "wrap",
}


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize("length", [1, 2, 3, 6])
def test_matches_numpy_pad_for_any_length(mode: str, length: int) -> None:
    signal = torch.arange(1, length + 1, dtype=torch.float64)
    for left in range(0, 8):
        for right in range(0, 8):
            expected = np.pad(signal.numpy(), (left, right), mode=NUMPY_MODE[mode])
            out = pad_axis(signal.view(1, 1, -1), 2, left, right, mode)
            np.testing.assert_array_equal(out.view(-1).numpy(), expected, err_msg=f"{left=} {right=}")


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
def test_pads_only_the_requested_axis(mode: str) -> None:
    x = torch.randn(2, 3, 4, 5)
    out = pad_axis(x, 2, 1, 2, mode)
    assert out.shape == (2, 3, 7, 5)
    torch.testing.assert_close(out[:, :, 1:5], x)


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "replicate", "circular"])
@pytest.mark.parametrize("length", [1, 2, 5])
def test_gradient_matches_the_index_rule(mode: str, length: int) -> None:
    """Both ways of padding (slices where the pad fits, indices beyond) give the index rule's gradient."""
    from liftpool_lightning.nn.padding import padding_index

    x = torch.randn(2, 3, length, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 3, length + 7, 4, dtype=torch.float64)
    for left, right in [(0, 1), (1, 1), (2, 3), (3, 4)]:
        w = weight[:, :, : length + left + right]
        (grad,) = torch.autograd.grad((pad_axis(x, 2, left, right, mode) * w).sum(), x)
        index = padding_index(length, left, right, mode, x.device)
        (expected,) = torch.autograd.grad((x.index_select(2, index) * w).sum(), x)
        torch.testing.assert_close(grad, expected, msg=f"{left=} {right=}")
