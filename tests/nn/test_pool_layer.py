"""LiftDownPool as a drop-in layer: shapes, parameters, band orientation, dtypes, devices, compile, bad arguments."""

import pytest
import torch
from torch import nn

from liftpool_lightning import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d, LiftUpPool2d


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 15, 32, 56, 112, 224])
def test_output_shape_matches_maxpool(size: int) -> None:
    x = torch.randn(1, 2, size, size + 1)
    ceil = LiftDownPool2d(2)(x)
    assert ceil.shape == nn.MaxPool2d(3, stride=2, padding=1)(x).shape  # ResNet stem pool
    if size >= 2:
        floor = LiftDownPool2d(2, ceil_mode=False)(x)
        assert floor.shape == nn.MaxPool2d(2, 2)(x).shape
        assert LiftDownPool2d(2, ceil_mode=True)(x).shape == nn.MaxPool2d(2, 2, ceil_mode=True)(x).shape


def test_output_size_helper_agrees_with_forward() -> None:
    for ceil_mode in (True, False):
        pool = LiftDownPool3d(lifting="haar", ceil_mode=ceil_mode)
        x = torch.randn(1, 1, 5, 6, 7)
        assert pool(x).shape[2:] == pool.output_size((5, 6, 7))


@pytest.mark.parametrize("channels", [1, 3, 64])
@pytest.mark.parametrize("kernel_size", [2, 5, 7])
def test_parameter_count_formula(channels: int, kernel_size: int) -> None:
    c, k = channels, kernel_size
    count = sum(p.numel() for p in LiftDownPool2d(c, kernel_size=k).parameters())
    assert count == 2 * (c * k + 3 * c)
    no_bias = sum(p.numel() for p in LiftDownPool2d(c, kernel_size=k, bias=False).parameters())
    assert no_bias == 2 * (c * k + c)
    unshared = sum(p.numel() for p in LiftDownPool2d(c, kernel_size=k, share_weights=False).parameters())
    assert unshared == 3 * 2 * (c * k + 3 * c)
    unshared_3d = sum(p.numel() for p in LiftDownPool3d(c, kernel_size=k, share_weights=False).parameters())
    assert unshared_3d == 7 * 2 * (c * k + 3 * c)


def test_parameter_count_with_groups() -> None:
    pool = LiftDownPool2d(8, kernel_size=3, groups=2, pointwise_groups=1)
    # per operator: 8 * (8/2) * 3 conv weights + 8 biases + 8 * 8 pointwise weights + 8 biases
    assert sum(p.numel() for p in pool.parameters()) == 2 * (8 * 4 * 3 + 8 + 64 + 8)
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    pool = pool.double()
    bands = pool.decompose(x)
    torch.testing.assert_close(LiftUpPool2d(pool)(bands.ll, bands), x, rtol=0, atol=1e-10)


def test_fixed_schemes_have_no_parameters() -> None:
    for lifting in ("haar", "legall53"):
        assert list(LiftDownPool2d(channels=64, lifting=lifting).parameters()) == []
        assert list(LiftDownPool2d(lifting=lifting).parameters()) == []


@pytest.mark.parametrize("lifting", ["learned", "haar", "legall53"])
def test_band_orientation(lifting: str) -> None:
    """A horizontal edge (rows change) lands in LH, a vertical edge in HL (PyWavelets' cH / cV)."""
    pool = LiftDownPool2d(1, lifting=lifting, dtype=torch.float64)
    rows = torch.arange(16).view(-1, 1).expand(16, 16)
    horizontal = (rows >= 9).to(torch.float64).view(1, 1, 16, 16)
    vertical = horizontal.transpose(-1, -2)
    energy_h = {name: band.pow(2).sum().item() for name, band in pool.decompose(horizontal).items()}
    energy_v = {name: band.pow(2).sum().item() for name, band in pool.decompose(vertical).items()}
    if lifting != "learned":
        assert energy_h["lh"] > 0 and energy_h["hl"] == energy_h["hh"] == 0
        assert energy_v["hl"] > 0 and energy_v["lh"] == energy_v["hh"] == 0
    else:  # learned P/U see a constant signal along the edge, but the edge itself only along one axis
        assert energy_h["lh"] > energy_h["hl"]
        assert energy_v["hl"] > energy_v["lh"]


def test_forward_sums_the_selected_bands() -> None:
    x = torch.randn(2, 4, 10, 10)
    pool = LiftDownPool2d(4, bands=("LL", "hh"))
    bands = pool.decompose(x)
    torch.testing.assert_close(pool(x), bands.ll + bands.hh)
    pool.bands = pool.band_names
    torch.testing.assert_close(pool(x), bands.ll + bands.lh + bands.hl + bands.hh)
    assert pool.bands == ("ll", "lh", "hl", "hh")
    assert LiftDownPool1d(4, bands="h")(x[..., 0]).shape == (2, 4, 5)


def test_haar_low_band_is_average_pooling() -> None:
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(LiftDownPool2d(lifting="haar", bands="ll")(x), nn.AvgPool2d(2)(x))


def test_gradcheck_input_and_parameters() -> None:
    # the losses' true derivative: the default ("operators") stops their gradient at the input on purpose
    pool = LiftDownPool2d(2, kernel_size=3, dtype=torch.float64, constraint_gradients="all", init="kaiming")
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pool, (x,))
    params = dict(pool.named_parameters())
    names = list(params)

    def as_function(inp: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(pool, dict(zip(names, values, strict=True)), (inp,))
        return out + pool.last_losses.c_u + pool.last_losses.c_p

    values = tuple(p.detach().clone().requires_grad_(True) for p in params.values())
    assert torch.autograd.gradcheck(as_function, (x, *values))


def test_gradients_reach_every_parameter_and_the_input() -> None:
    pool = LiftDownPool2d(3, share_weights=False, bands="all")  # every step's P/U reaches the output
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    pool(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, parameter in pool.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_deterministic_and_batch_independent() -> None:
    pool = LiftDownPool2d(3)
    x = torch.randn(4, 3, 12, 12)
    first, second = pool(x), pool(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(pool(x[1:2]), first[1:2])  # batch size 1, and no mixing across the batch


def test_unshared_with_identical_weights_equals_shared() -> None:
    shared = LiftDownPool2d(3, dtype=torch.float64)
    unshared = LiftDownPool2d(3, share_weights=False, dtype=torch.float64)
    for key in unshared.predict:
        unshared.predict[key].load_state_dict(shared.predict.state_dict())
        unshared.update[key].load_state_dict(shared.update.state_dict())
    x = torch.randn(2, 3, 7, 10, dtype=torch.float64)
    torch.testing.assert_close(unshared(x), shared(x))
    torch.testing.assert_close(unshared.last_losses.c_u, shared.last_losses.c_u)
    torch.testing.assert_close(unshared.last_losses.c_p, shared.last_losses.c_p)


def test_channels_last_input_gives_the_same_result() -> None:
    pool = LiftDownPool2d(8)
    x = torch.randn(2, 8, 16, 16)
    expected = pool(x)
    out = pool(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_parameters_and_input(dtype: torch.dtype) -> None:
    pool32 = LiftDownPool2d(4)
    pool = LiftDownPool2d(4, dtype=dtype)
    pool.load_state_dict(pool32.state_dict())
    x = torch.randn(2, 4, 16, 16)
    out = pool(x.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), pool32(x), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast(dtype: torch.dtype) -> None:
    pool = LiftDownPool2d(4)
    x = torch.randn(2, 4, 16, 16)
    expected = pool(x)
    with torch.autocast("cpu", dtype=dtype):
        out = pool(x)
        bands = pool.decompose(x)
        restored = LiftUpPool2d(pool)(bands.ll, bands)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), expected, rtol=0.05, atol=0.05)
    torch.testing.assert_close(restored.float(), x, rtol=0.05, atol=0.05)


def test_meta_device_and_dtype_kwargs() -> None:
    pool = LiftDownPool2d(16, device="meta", dtype=torch.float64)
    assert all(p.device.type == "meta" and p.dtype == torch.float64 for p in pool.parameters())
    out = pool(torch.empty(2, 16, 9, 9, device="meta", dtype=torch.float64))
    assert out.shape == (2, 16, 5, 5) and out.device.type == "meta"
    pool.to_empty(device="cpu")
    pool.reset_parameters()
    assert all(torch.isfinite(p).all() for p in pool.parameters())
    assert pool(torch.randn(1, 16, 4, 4, dtype=torch.float64)).shape == (1, 16, 2, 2)


def test_reset_parameters_reinitialises() -> None:
    pool = LiftDownPool2d(4)
    with torch.no_grad():
        pool.predict.weight.zero_()
    pool.reset_parameters()
    assert pool.predict.weight.abs().sum() > 0
    LiftDownPool2d(lifting="haar").reset_parameters()  # no parameters: nothing to do, no error


def test_last_losses_and_bands_recording() -> None:
    pool = LiftDownPool2d(3)
    assert pool.last_losses is None and pool.last_bands is None
    x = torch.randn(2, 3, 8, 8)
    pool(x)
    assert pool.last_losses is not None and pool.last_bands is None
    pool.record_bands = True
    pool(x)
    assert set(pool.last_bands) == {"ll", "lh", "hl", "hh"} and pool.last_bands.input_size == (8, 8)
    pool.clear()
    assert pool.last_losses is None and pool.last_bands is None
    quiet = LiftDownPool2d(3, compute_losses=False)
    quiet(x)
    assert quiet.last_losses is None


def test_module_repr_names_its_configuration() -> None:
    text = repr(LiftDownPool2d(64, kernel_size=3))
    assert "channels=64" in text and "kernel_size=3" in text and "'learned'" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"channels": 0}, ValueError, "channels must be >= 1"),
        ({"channels": -3}, ValueError, "channels"),
        ({"channels": 2.0}, TypeError, "channels must be an int"),
        ({"channels": None}, ValueError, "channels is required"),
        ({"channels": 4, "kernel_size": 0}, ValueError, "kernel_size must be >= 1"),
        ({"channels": 4, "bands": ("ll", "xy")}, ValueError, "bands: unknown band 'xy'"),
        ({"channels": 4, "bands": ()}, ValueError, "bands must name"),
        ({"channels": 4, "lifting": "db4"}, ValueError, "lifting must be one of"),
        ({"channels": 4, "padding_mode": "mirror"}, ValueError, "padding_mode must be one of"),
        ({"channels": 6, "groups": 4}, ValueError, "groups=4 must divide channels=6"),
        ({"channels": 6, "pointwise_groups": 0}, ValueError, "pointwise_groups must be >= 1"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        LiftDownPool2d(**kwargs)


def test_bad_inputs_are_named() -> None:
    pool = LiftDownPool2d(4)
    with pytest.raises(ValueError, match=r"input must be 4D \(N, C, H, W\)"):
        pool(torch.randn(4, 8, 8))
    with pytest.raises(ValueError, match="input has 3 channels but the layer was built with channels=4"):
        pool(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"3D \(N, C, W\)"):
        LiftDownPool1d(4)(torch.randn(1, 4, 8, 8))
    with pytest.raises(TypeError, match="must be a Tensor"):
        pool([[1.0]])
