"""LiftUpPool(LiftDownPool(x)) == x: exact for every scheme, padding mode, kernel size and shape, odd and tiny."""

import pytest
import torch

from liftpool_lightning.nn import (
    LiftDownPool1d,
    LiftDownPool2d,
    LiftDownPool3d,
    LiftUpPool1d,
    LiftUpPool2d,
    LiftUpPool3d,
)

DOWN = {1: LiftDownPool1d, 2: LiftDownPool2d, 3: LiftDownPool3d}
UP = {1: LiftUpPool1d, 2: LiftUpPool2d, 3: LiftUpPool3d}

SHAPES_2D = [(1, 1), (2, 2), (3, 5), (7, 7), (127, 126), (1, 6), (5, 1)]


def _perturb(pool: torch.nn.Module) -> None:
    """Make P/U clearly non-trivial: larger random weights and biases than the default init."""
    with torch.no_grad():
        for parameter in pool.parameters():
            parameter.normal_(0.0, 1.0)


@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("lifting", ["learned", "haar", "legall53"])
def test_round_trip_2d_float64(shape: tuple[int, int], lifting: str) -> None:
    down = LiftDownPool2d(channels=3, kernel_size=5, lifting=lifting, dtype=torch.float64)
    _perturb(down)
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    bands = down.decompose(x)
    assert bands.ll.shape == (2, 3, (shape[0] + 1) // 2, (shape[1] + 1) // 2)
    restored = LiftUpPool2d(down)(bands.ll, bands)
    assert restored.shape == x.shape
    torch.testing.assert_close(restored, x, rtol=0, atol=1e-10)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "symmetric", "replicate", "circular"])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5, 7])
def test_round_trip_every_padding_mode_and_kernel_size(padding_mode: str, kernel_size: int) -> None:
    down = LiftDownPool2d(4, kernel_size=kernel_size, padding_mode=padding_mode, dtype=torch.float64, init="kaiming")
    _perturb(down)
    for shape in [(2, 2), (3, 3), (9, 12)]:
        x = torch.randn(1, 4, *shape, dtype=torch.float64)
        bands = down.decompose(x)
        torch.testing.assert_close(LiftUpPool2d(down)(bands.ll, bands), x, rtol=0, atol=1e-10)


@pytest.mark.parametrize("share_weights", [True, False])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_round_trip_1d_2d_3d(dims: int, share_weights: bool) -> None:
    down = DOWN[dims](channels=2, kernel_size=3, share_weights=share_weights, dtype=torch.float64)
    _perturb(down)
    shape = {1: (33,), 2: (9, 8), 3: (5, 6, 7)}[dims]
    x = torch.randn(3, 2, *shape, dtype=torch.float64)
    bands = down.decompose(x)
    assert len(bands) == 2**dims
    restored = UP[dims](down)(bands.low, bands)
    torch.testing.assert_close(restored, x, rtol=0, atol=1e-10)


def test_up_pool_uses_the_paired_down_pools_recorded_details() -> None:
    """Encoder-decoder use: the down-pool keeps only LL, the up-pool takes the details it recorded."""
    down = LiftDownPool2d(3, bands="ll", dtype=torch.float64, init="kaiming")
    up = LiftUpPool2d(down)
    assert down.record_bands
    x = torch.randn(2, 3, 11, 10, dtype=torch.float64)
    low = down(x)
    torch.testing.assert_close(up(low), x, rtol=0, atol=1e-10)
    # A changed low band changes the output, and only through the inverse ladder.
    changed = up(low + 1.0)
    assert (changed - x).abs().max() > 0.1


def test_round_trip_in_float32_is_accurate() -> None:
    down = LiftDownPool2d(16, kernel_size=5, init="kaiming")
    x = torch.randn(4, 16, 32, 32)
    bands = down.decompose(x)
    torch.testing.assert_close(LiftUpPool2d(down)(bands.ll, bands), x, rtol=0, atol=1e-5)


def test_floor_mode_drops_the_last_sample_like_maxpool() -> None:
    down = LiftDownPool2d(2, ceil_mode=False, dtype=torch.float64, init="kaiming")
    x = torch.randn(1, 2, 7, 9, dtype=torch.float64)
    bands = down.decompose(x)
    assert bands.ll.shape[2:] == (3, 4)
    restored = LiftUpPool2d(down)(bands.ll, bands)
    assert restored.shape == x.shape
    torch.testing.assert_close(restored[..., :6, :8], x[..., :6, :8], rtol=0, atol=1e-10)
    # the dropped row and column are filled by repeating the last reconstructed ones
    torch.testing.assert_close(restored[..., 6, :8], restored[..., 5, :8])
    torch.testing.assert_close(restored[..., :, 8], restored[..., :, 7])


def test_missing_details_policy() -> None:
    down = LiftDownPool2d(lifting="haar")
    low = torch.ones(1, 1, 3, 3)
    with pytest.raises(ValueError, match="no detail bands"):
        LiftUpPool2d(down)(low)
    up = LiftUpPool2d(LiftDownPool2d(lifting="haar"), missing_details="zeros")
    out = up(low, output_size=(5, 6))
    assert out.shape == (1, 1, 5, 6)
    # Haar with zero details is nearest-neighbour upsampling of the low band.
    torch.testing.assert_close(out, torch.ones(1, 1, 5, 6))


def test_up_pool_rejects_mismatched_bands_and_sizes() -> None:
    down = LiftDownPool2d(lifting="haar")
    bands = down.decompose(torch.randn(1, 1, 8, 8))
    up = LiftUpPool2d(down)
    with pytest.raises(ValueError, match="'lh'"):
        up(torch.randn(1, 1, 3, 4), bands)
    with pytest.raises(ValueError, match="output_size"):
        up(bands.ll, bands, output_size=(12, 8))
    with pytest.raises(ValueError, match="missing the detail band 'hh'"):
        up(bands.ll, {"lh": bands.lh, "hl": bands.hl})
    with pytest.raises(TypeError, match="LiftDownPool2d"):
        LiftUpPool2d(DOWN[1](lifting="haar"))
    # output_size may be given as a full (N, C, H, W) size, like MaxUnpool2d
    assert up(bands.ll, bands, output_size=(1, 1, 7, 8)).shape == (1, 1, 7, 8)
