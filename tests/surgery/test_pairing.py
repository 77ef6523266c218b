"""Encoder-decoder pairing: MaxPool(return_indices) + MaxUnpool become LiftDownPool (LL) + LiftUpPool (details)."""

import pytest
import torch
from torch import nn

from liftpool_lightning import LiftDownPool2d, replace_pooling
from liftpool_lightning.models.small_segnet import SmallSegNet
from liftpool_lightning.surgery import (
    InterpolateUnpool,
    LiftDownPoolWithIndices,
    LiftUnpool,
    MaxBlurPoolWithIndices,
    MaxUnpoolBlur,
)


class _EncoderDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2, return_indices=True)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2, return_indices=True)
        self.unpool2 = nn.MaxUnpool2d(2)
        self.deconv2 = nn.Conv2d(8, 4, 3, padding=1)
        self.unpool1 = nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv1(x)
        x, i1 = self.pool1(a)
        b = self.conv2(x)
        x, i2 = self.pool2(b)
        x = self.deconv2(self.unpool2(x, i2, output_size=b.shape))
        return self.unpool1(x, i1, output_size=a.shape)


def test_lift_pairs_pools_with_their_unpools() -> None:
    model = _EncoderDecoder()
    x = torch.randn(2, 3, 20, 20)
    expected = model(x).shape
    report = replace_pooling(model, "lift", torch.randn(1, 3, 20, 20))
    assert sorted(report.paths) == ["pool1", "pool2", "unpool1", "unpool2"]
    assert isinstance(model.pool1, LiftDownPoolWithIndices) and model.pool1.pool.bands == ("ll",)
    assert isinstance(model.unpool1, LiftUnpool) and model.unpool1.up.down is model.pool1.pool
    assert model.unpool2.up.down is model.pool2.pool  # last pooled, first unpooled
    out = model(x)
    assert out.shape == expected
    out.square().mean().backward()
    assert model.pool1.pool.predict.weight.grad is not None


def test_paired_lift_pool_is_an_identity_on_the_encoders_own_ll() -> None:
    model = _EncoderDecoder().double()
    replace_pooling(model, "lift", torch.randn(1, 3, 16, 16))
    features = torch.randn(2, 8, 12, 14, dtype=torch.float64)
    low, _ = model.pool2(features)
    torch.testing.assert_close(model.unpool2(low, None, output_size=features.shape), features, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("up_pool", "cls"),
    [("maxunpool+blur", MaxUnpoolBlur), ("maxunpool", nn.MaxUnpool2d), ("bilinear", InterpolateUnpool)],
)
def test_max_pools_with_unpool_baselines(up_pool: str, cls: type) -> None:
    model = _EncoderDecoder()
    x = torch.randn(1, 3, 16, 16)
    expected = model(x).shape
    replace_pooling(model, "max", torch.randn(1, 3, 16, 16), up_pool=up_pool)
    assert type(model.unpool1) is cls and type(model.pool1) is nn.MaxPool2d and model.pool1.return_indices
    assert model(x).shape == expected


@pytest.mark.parametrize("pool", ["max", "lift"])
def test_bilinear_up_pool_interpolates_and_ignores_the_indices(pool: str) -> None:
    model = _EncoderDecoder()
    replace_pooling(model, pool, torch.randn(1, 3, 16, 16), up_pool="bilinear")
    x = torch.randn(2, 8, 5, 7)
    expected = nn.functional.interpolate(x, size=(11, 14), mode="bilinear", align_corners=False)
    torch.testing.assert_close(model.unpool1(x, None, output_size=(2, 8, 11, 14)), expected)
    # without output_size: MaxUnpool2d(2)'s own size, (n - 1) * 2 + 2
    assert model.unpool1(x, torch.zeros(1)).shape == (2, 8, 10, 14)


@pytest.mark.parametrize(("pool", "up_pool"), [("lift", None), ("max", None), ("max", "maxunpool+blur"),
                                               ("max", "bilinear"), ("lift_paper", None), ("blur", None),
                                               ("blur", "maxunpool+blur"), ("blur", "bilinear")])  # fmt: skip
def test_small_segnet_pairs_every_pool_and_keeps_its_output_shape(pool: str, up_pool: str | None) -> None:
    model = SmallSegNet(num_classes=5, widths=(4, 8))
    x = torch.randn(2, 3, 22, 18)  # odd sizes after a pool: the unpools get their output sizes
    report = replace_pooling(model, pool, x[:1], up_pool=up_pool)
    replaced = 4 if pool in ("lift", "lift_paper") or up_pool not in (None, "maxunpool") else 2
    assert len(report.paths) == replaced
    out = model(x)
    assert out.shape == (2, 5, 22, 18)
    out.square().mean().backward()


def test_blur_encoder_keeps_the_max_indices_for_the_unpool() -> None:
    model = _EncoderDecoder()
    original = model.pool1
    replace_pooling(model, "blur", torch.randn(1, 3, 16, 16), filter_size=5)
    assert isinstance(model.pool1, MaxBlurPoolWithIndices) and type(model.unpool1) is nn.MaxUnpool2d
    assert model.pool1.pool.blur.filter_size == 5
    x = torch.randn(2, 4, 12, 10)
    out, indices = model.pool1(x)
    torch.testing.assert_close(out, model.pool1.pool(x))  # the anti-aliased values
    assert torch.equal(indices, original(x)[1])  # where the replaced max pool found its maxima
    assert not torch.equal(out, original(x)[0])
    up = model.unpool1(out, indices, output_size=x.shape)
    torch.testing.assert_close(up.flatten(2).gather(2, indices.flatten(2)), out.flatten(2))
    assert (up != 0).sum() == out.numel()


def test_blur_after_unpool_fills_the_holes() -> None:
    model = _EncoderDecoder()
    replace_pooling(model, "max", torch.randn(1, 3, 16, 16), up_pool="maxunpool+blur")
    out = model(torch.randn(1, 3, 16, 16))
    assert (out == 0).float().mean() < 0.05  # MaxUnpool alone leaves 3 of 4 positions zero


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pool": "lift", "up_pool": "maxunpool"}, "needs max indices"),
        ({"pool": "max", "up_pool": "lift"}, "up_pool='lift' needs pool='lift'"),
        ({"pool": "avg"}, "returns max indices for a MaxUnpool"),
    ],
)
def test_pairing_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace_pooling(_EncoderDecoder(), example_input=torch.randn(1, 3, 16, 16), **kwargs)


def test_excluding_a_pool_keeps_its_unpool() -> None:
    model = _EncoderDecoder()
    report = replace_pooling(model, "lift", torch.randn(1, 3, 16, 16), exclude=["pool2"])
    assert sorted(report.paths) == ["pool1", "unpool1"]
    assert type(model.pool2) is nn.MaxPool2d and type(model.unpool2) is nn.MaxUnpool2d
    assert isinstance(model.pool1.pool, LiftDownPool2d)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 4, 16, 16)
