"""``detail_weight``: the low band plus a learned per-channel share of the detail bands, starting at none."""

from __future__ import annotations

import pytest
import torch

from liftpool_lightning import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d, LiftUpPool2d, replace_pooling
from liftpool_lightning.models.small_vgg import SmallVGG


@pytest.mark.parametrize(("cls", "shape"), [(LiftDownPool1d, (2, 3, 10)), (LiftDownPool2d, (2, 3, 8, 6)),
                                            (LiftDownPool3d, (1, 3, 4, 4, 6))])  # fmt: skip
def test_starts_as_the_low_band_and_with_unit_weights_is_the_sum_of_all_bands(cls, shape) -> None:
    torch.manual_seed(0)
    gated = cls(3, detail_weight=True)
    low = cls(3)
    everything = cls(3, bands="all", init="max", activation="identity")
    low.load_state_dict({k: v for k, v in gated.state_dict().items() if k != "detail_weight"})
    everything.load_state_dict(low.state_dict())
    x = torch.randn(shape)
    assert torch.equal(gated.detail_weight, torch.zeros(3))
    torch.testing.assert_close(gated(x), low(x), rtol=0, atol=0)
    with torch.no_grad():
        gated.detail_weight.fill_(1.0)
    torch.testing.assert_close(gated(x), everything(x))


def test_the_weight_is_learned_per_channel() -> None:
    torch.manual_seed(0)
    pool = LiftDownPool2d(4, detail_weight=True)
    pool(torch.randn(2, 4, 8, 8)).square().sum().backward()
    assert pool.detail_weight.grad is not None and pool.detail_weight.grad.shape == (4,)
    assert (pool.detail_weight.grad != 0).all()
    assert "detail_weight=True" in repr(pool)


def test_needs_the_low_band_alone_and_channels() -> None:
    with pytest.raises(ValueError, match="use it with bands='low'"):
        LiftDownPool2d(4, bands="all", detail_weight=True)
    with pytest.raises(ValueError, match="detail_weight needs channels"):
        LiftDownPool2d(lifting="haar", detail_weight=True)


def test_surgery_passes_it_on() -> None:
    model = SmallVGG(num_classes=3)
    replace_pooling(model, "lift", (1, 3, 32, 32), detail_weight=True)
    weights = [name for name, _ in model.named_parameters() if name.endswith("detail_weight")]
    assert len(weights) == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_a_paired_up_pool_inverts_it_only_while_the_weight_is_zero() -> None:
    torch.manual_seed(0)
    down = LiftDownPool2d(3, detail_weight=True).double()
    up = LiftUpPool2d(down)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(up(down(x)), x)
    with torch.no_grad():
        down.detail_weight.fill_(0.5)
    assert (up(down(x)) - x).abs().max() > 1e-3
