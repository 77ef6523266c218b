"""Initialisation of learned P/U: ``kaiming`` (like nn.Conv1d) and ``haar`` (a softened Haar lifting step)."""

import pytest
import torch

from liftpool_lightning import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d
from liftpool_lightning.nn.constants import PAPER_OPTIONS, band_names
from liftpool_lightning.nn.operators import LearnedLiftingOperator


@pytest.mark.parametrize(("groups", "pointwise_groups"), [(6, 6), (1, 1), (3, 2)])
@pytest.mark.parametrize("kernel_size", [1, 2, 5])
def test_haar_operator_is_tanh_of_a_scaled_input(groups: int, pointwise_groups: int, kernel_size: int) -> None:
    operator = LearnedLiftingOperator(6, kernel_size, groups, pointwise_groups, "symmetric", dtype=torch.float64,
                                      init="haar", role="update")  # fmt: skip
    x = torch.rand(2, 6, 5, 7, dtype=torch.float64) * 5.9 - 2.9  # the ReLU is linear above -3
    torch.testing.assert_close(operator(x, 3), torch.tanh(0.5 * x), rtol=0, atol=1e-12)
    torch.testing.assert_close(operator(x, 2), torch.tanh(0.5 * x), rtol=0, atol=1e-12)


def test_haar_layer_starts_close_to_haar_lifting() -> None:
    """Small inputs, where tanh is nearly linear: the bands are those of the Haar scheme within a few percent."""
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64) * 0.1
    learned = LiftDownPool2d(3, init="haar", dtype=torch.float64).decompose(x)
    haar = LiftDownPool2d(lifting="haar").decompose(x)
    for name in ("ll", "lh", "hl", "hh"):
        torch.testing.assert_close(learned[name], haar[name], rtol=0, atol=2e-3)


def test_haar_init_survives_reset_and_trains() -> None:
    layer = LiftDownPool1d(4, init="haar", share_weights=False)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(1.0)
    layer.reset_parameters()
    assert layer.predict["w"].bias.eq(3.0).all() and layer.update["w"].pointwise_weight.eq(0.5).all()
    x = torch.randn(2, 4, 16, requires_grad=True)
    layer(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_the_default_start_follows_the_bands() -> None:
    """The low band alone: max-lifting without the tanh; the low band with details: Haar under the tanh; detail
    bands alone: random P/U under the tanh."""
    default = LiftDownPool2d(4)
    assert default.bands == ("ll",) and default.init == "max" and default.activation == "identity"
    assert default.predict.init == "max" and default.update.activation == "identity"
    assert LiftDownPool1d(4).bands == ("l",) and LiftDownPool3d(4, bands="low").bands == ("lll",)
    both = LiftDownPool2d(4, bands=["ll", "hh"])
    assert both.update.init == "haar" and both.activation == "tanh"
    assert LiftDownPool2d(4, bands="all").init == "haar" and LiftDownPool2d(4, bands=None).bands == band_names(2)
    for bands in ("lh", "hl", "hh", ["lh", "hh"]):
        layer = LiftDownPool2d(4, bands=bands)
        assert layer.predict.init == "kaiming" and layer.activation == "tanh"
    assert LiftDownPool1d(4, bands="h").init == "kaiming" and LiftDownPool1d(4, bands="l").init == "max"
    assert LiftDownPool2d(4, bands="hh", init="haar").predict.init == "haar"
    assert LiftDownPool2d(4, init="max", activation="tanh").activation == "tanh"  # given: kept
    layer = LiftDownPool2d(4, init="kaiming")
    assert layer.activation == "tanh"
    assert layer.predict.bias.abs().max() < 1 and layer.predict.weight.std() > 0  # nn.Conv1d's ranges
    with pytest.raises(ValueError, match="init must be one of 'kaiming', 'haar', 'max'"):
        LiftDownPool2d(4, init="db2")


def test_paper_options_are_the_papers_layer() -> None:
    layer = LiftDownPool2d(4, **PAPER_OPTIONS)
    assert layer.bands == band_names(2) and layer.init == "kaiming" and layer.activation == "tanh"
    assert layer.constraint_gradients == "all"


def test_haar_without_biases_is_haar_on_non_negative_inputs() -> None:
    layer = LiftDownPool1d(3, bias=False, init="haar", dtype=torch.float64)
    x = torch.rand(2, 3, 10, dtype=torch.float64)
    torch.testing.assert_close(layer.predict(x, 2), torch.tanh(x))
    torch.testing.assert_close(layer.update(x - 0.5, 2), torch.tanh(0.5 * (x - 0.5).clamp(min=0)))


def test_max_init_without_the_tanh_is_max_pooling_on_the_low_band() -> None:
    """Max-lifting: P = x_e, U = relu(d), so s = max(x_e, x_o); the 2D low band is 2x2 max pooling exactly."""
    x = torch.randn(2, 3, 8, 10, dtype=torch.float64).relu()
    for fused in (True, False):
        layer = LiftDownPool2d(3, bands="ll", init="max", activation="identity", fused=fused, dtype=torch.float64)
        torch.testing.assert_close(layer(x), torch.nn.functional.max_pool2d(x, 2), rtol=0, atol=1e-12)
        bands = layer.decompose(x)
        torch.testing.assert_close(layer.reconstruct(bands, x.shape[2:]), x, rtol=0, atol=1e-12)  # still invertible


def test_haar_init_without_the_tanh_is_the_haar_step() -> None:
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    learned = LiftDownPool2d(3, init="haar", activation="identity", dtype=torch.float64).decompose(x)
    haar = LiftDownPool2d(lifting="haar").decompose(x)
    for name in ("ll", "lh", "hl", "hh"):
        torch.testing.assert_close(learned[name], haar[name].double(), rtol=0, atol=1e-12)


def test_max_init_under_the_tanh_is_tanh_of_relu() -> None:
    update = LiftDownPool1d(3, init="max", activation="tanh", dtype=torch.float64).update
    d = torch.randn(2, 3, 10, dtype=torch.float64)
    torch.testing.assert_close(update(d, 2), torch.tanh(d.clamp(min=0)), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="activation must be one of 'tanh', 'identity'"):
        LiftDownPool1d(3, activation="relu")
