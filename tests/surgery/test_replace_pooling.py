"""replace_pooling on torchvision and hand-made models: shapes kept, weights kept, report, idempotence, errors."""

import functools

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet18

from liftpool_lightning import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d, replace_pooling
from liftpool_lightning.nn.baselines import BlurPool, GatedPool, MaxBlurPool, MixedPool, SkipPool
from liftpool_lightning.surgery import DOWN_POOLS, ConvThenPool
from liftpool_lightning.surgery.replace import KEEPS_SIZE


def test_acceptance_call_on_resnet18() -> None:
    model = resnet18()
    x = torch.randn(2, 3, 96, 96)
    expected = model.eval()(x).shape
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    report = replace_pooling(model, pool="lift", example_input=torch.randn(1, 3, 224, 224))
    assert report.paths == ["maxpool"]
    assert isinstance(model.maxpool, LiftDownPool2d) and model.maxpool.channels == 64
    replacement = report.replacements[0]
    assert replacement.input_shape == (1, 64, 112, 112) and replacement.output_shape == (1, 64, 56, 56)
    assert replacement.added_parameters == 2 * (64 * 5 + 3 * 64) == report.added_parameters
    assert model.training  # modes restored after the dry run
    after = model.state_dict()
    for key, value in before.items():  # every weight and BatchNorm statistic untouched by the dry run
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)
    assert model.eval()(x).shape == expected
    text = str(report)
    assert "maxpool" in text and "MaxPool2d(k=3, s=2, p=1" in text and "LiftDownPool2d(C=64" in text
    assert "1x64x112x112" in text and "1,024" in text


class _Nested(nn.Module):
    """Pools inside Sequential, ModuleList, ModuleDict, a nested block, and one pool instance used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.MaxPool2d(2)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2, 2, ceil_mode=True))
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()), nn.AvgPool2d(2)])
        self.heads = nn.ModuleDict({"pool": nn.MaxPool2d(3, 2, 1), "conv": nn.Conv2d(8, 16, 1)})
        self.again = self.shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.blocks[1](self.blocks[0](x))
        x = self.heads["conv"](self.heads["pool"](x))
        return self.again(self.shared(x))


@pytest.mark.parametrize("pool", DOWN_POOLS)
@pytest.mark.parametrize("size", [64, 45])
def test_every_pool_keeps_every_shape_in_nested_containers(pool: str, size: int) -> None:
    model = _Nested()
    x = torch.randn(2, 3, size, size)
    expected = model(x).shape
    report = replace_pooling(model, pool, torch.randn(1, 3, size, size))
    assert sorted(report.paths) == ["blocks.1", "heads.pool", "shared", "stem.1"]
    assert model.shared is model.again  # a shared module stays shared, replaced once
    out = model(x)
    assert out.shape == expected
    out.mean().backward()


def test_pool_classes_by_name() -> None:
    expected = {
        "lift": LiftDownPool2d,
        "lift_paper": LiftDownPool2d,
        "wavelet": LiftDownPool2d,
        "max": nn.MaxPool2d,
        "avg": nn.AvgPool2d,
        "skip": SkipPool,
        "mixed": MixedPool,
        "gated": GatedPool,
    }
    for name, cls in expected.items():
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
        replace_pooling(model, name, torch.randn(1, 3, 16, 16))
        assert type(model[1]) is cls, name
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.AvgPool2d(2))
    replace_pooling(model, "blur", torch.randn(1, 3, 16, 16))
    assert type(model[1]) is MaxBlurPool and type(model[2]) is BlurPool


def test_wavelet_options_and_lift_options_reach_the_layer() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
    replace_pooling(model, "wavelet", torch.randn(1, 3, 16, 16), lifting="legall53")
    assert model[1].lifting == "legall53" and list(model[1].parameters()) == []
    assert model[1].bands == ("ll", "lh", "hl", "hh")  # the fixed wavelet pool sums every band
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
    replace_pooling(model, "lift", torch.randn(1, 3, 16, 16), kernel_size=3, bands=("ll", "hh"))
    assert model[1].kernel_size == 3 and model[1].bands == ("ll", "hh")


def test_lift_paper_is_the_papers_layer_and_options_still_apply() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
    replace_pooling(model, "lift_paper", torch.randn(1, 3, 16, 16))
    layer = model[1]
    assert (layer.bands, layer.init, layer.activation, layer.constraint_gradients) == (
        ("ll", "lh", "hl", "hh"),
        "kaiming",
        "tanh",
        "all",
    )
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
    replace_pooling(model, "lift_paper", torch.randn(1, 3, 16, 16), bands=["hh"], kernel_size=3)
    assert model[1].bands == ("hh",) and model[1].kernel_size == 3 and model[1].constraint_gradients == "all"
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
    replace_pooling(model, "lift", torch.randn(1, 3, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model(x), nn.functional.max_pool2d(model[0](x), 2))  # the default starts as MaxPool


@pytest.mark.parametrize(
    ("source", "size"),
    [
        (nn.MaxPool2d(2, 2), 7),
        (nn.MaxPool2d(2, 2, ceil_mode=True), 7),
        (nn.MaxPool2d(3, 2, 1), 7),
        (nn.MaxPool2d(3, 2, ceil_mode=True), 9),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False), 12),
    ],
)
def test_lift_keeps_odd_and_padded_geometries(source: nn.Module, size: int) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), source)
    expected = [model(torch.randn(1, 3, n, n)).shape for n in (size, size + 1, 32, 33)]
    replace_pooling(model, "lift", torch.randn(1, 3, size, size))
    assert [model(torch.randn(1, 3, n, n)).shape for n in (size, size + 1, 32, 33)] == expected


def test_one_and_three_dimensional_pools() -> None:
    model_1d = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.MaxPool1d(2), nn.AvgPool1d(2))
    report = replace_pooling(model_1d, "lift", torch.randn(1, 2, 40))
    assert len(report) == 2 and all(isinstance(m, LiftDownPool1d) for m in model_1d[1:])
    assert model_1d(torch.randn(3, 2, 40)).shape == (3, 4, 10)
    model_3d = nn.Sequential(nn.Conv3d(1, 2, 1), nn.MaxPool3d(2))
    replace_pooling(model_3d, "lift", torch.randn(1, 1, 8, 8, 8))
    assert isinstance(model_3d[1], LiftDownPool3d) and model_3d(torch.randn(2, 1, 8, 8, 8)).shape == (2, 2, 4, 4, 4)


def test_second_call_changes_nothing() -> None:
    model = resnet18()
    replace_pooling(model, "lift", torch.randn(1, 3, 64, 64))
    count = sum(p.numel() for p in model.parameters())
    report = replace_pooling(model, "lift", torch.randn(1, 3, 64, 64))
    assert len(report) == 0 and report.skipped == [("maxpool", "replaced by an earlier replace_pooling")]
    assert sum(p.numel() for p in model.parameters()) == count
    assert isinstance(model.maxpool, LiftDownPool2d)


def test_strided_convolutions_on_mobilenet_v2() -> None:
    model = mobilenet_v2()
    x = torch.randn(2, 3, 64, 64)
    expected = model.eval()(x).shape
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    report = replace_pooling(model, "lift", torch.randn(1, 3, 64, 64), strided_convs=True)
    assert len(report) == 5 and report.paths[0] == "features.0.0"
    stem = model.features[0][0]
    assert isinstance(stem, ConvThenPool) and stem[0].stride == (1, 1) and isinstance(stem[1], LiftDownPool2d)
    assert model.eval()(x).shape == expected
    for key, value in model.state_dict().items():  # conv weights moved under ConvThenPool, values unchanged
        original = key.replace(".0.0.weight", ".0.weight").replace(".0.0.bias", ".0.bias")
        if original in weights:
            torch.testing.assert_close(value, weights[original], rtol=0, atol=0)
    assert sum(1 for k in model.state_dict() if "predict" in k) > 0
    skipped = mobilenet_v2()
    report = replace_pooling(skipped, "lift", torch.randn(1, 3, 64, 64), strided_convs=True, skip_stem=True)
    assert len(report) == 4 and ("features.0.0", "stem (skip_stem=True)") in report.skipped


def test_include_and_exclude_patterns() -> None:
    model = _Nested()
    report = replace_pooling(model, "avg", torch.randn(1, 3, 32, 32), include=["stem.*", "heads.*"])
    assert sorted(report.paths) == ["heads.pool", "stem.1"]
    model = _Nested()
    report = replace_pooling(model, "avg", torch.randn(1, 3, 32, 32), exclude=["shared", "again"])
    assert sorted(report.paths) == ["blocks.1", "heads.pool", "stem.1"]
    with pytest.raises(ValueError, match=r"include pattern 'decoder\.\*' matches no downsampling layer"):
        replace_pooling(_Nested(), "avg", torch.randn(1, 3, 32, 32), include=["decoder.*"])


def test_classes_and_partials_as_pool() -> None:
    model = resnet18()
    replace_pooling(model, functools.partial(LiftDownPool2d, kernel_size=3), torch.randn(1, 3, 64, 64))
    assert isinstance(model.maxpool, LiftDownPool2d) and model.maxpool.channels == 64
    assert model.maxpool.kernel_size == 3 and model.maxpool.ceil_mode
    model = resnet18()
    replace_pooling(model, nn.AvgPool2d, torch.randn(1, 3, 64, 64), kernel_size=2)
    assert isinstance(model.maxpool, nn.AvgPool2d) and model.maxpool.ceil_mode
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_meta_device_model() -> None:
    with torch.device("meta"):
        model = resnet18()
    report = replace_pooling(model, "lift", torch.empty(1, 3, 64, 64, device="meta"))
    assert len(report) == 1
    assert all(p.device.type == "meta" for p in model.maxpool.parameters())


def test_model_whose_pool_is_not_run_is_left_alone() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.MaxPool2d(2)
            self.unused = nn.MaxPool2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pool(x)

    model = Branchy()
    report = replace_pooling(model, "lift", torch.randn(1, 2, 8, 8))
    assert report.paths == ["pool"] and ("unused", "not run by example_input") in report.skipped
    assert type(model.unused) is nn.MaxPool2d


@pytest.mark.parametrize(
    ("model", "kwargs", "error", "message"),
    [
        (nn.Sequential(nn.MaxPool2d(2)), {"pool": "maxx"}, ValueError, "unknown pool 'maxx'"),
        (nn.Sequential(nn.MaxPool2d(2)), {"pool": "lift", "kernel": 3}, ValueError, "does not take option"),
        (nn.Sequential(nn.MaxPool2d(2)), {"pool": "lift", "kernel_size": 0}, ValueError, "kernel_size must be >= 1"),
        (nn.Sequential(nn.MaxPool2d(2)), {"pool": "lift", "up_pool": "nearest"}, ValueError, "unknown up-pool"),
        (nn.Sequential(nn.Conv2d(3, 3, 3, 2)), {"pool": "lift"}, ValueError, "use strided_convs=True"),
        (nn.Sequential(nn.MaxPool2d(3, 1, 1)), {"pool": "lift"}, ValueError, "no downsampling pooling layer"),
        (nn.Sequential(nn.MaxPool2d(3, 1, 1)), {"pool": "lift", "include": ["0"]}, ValueError, r"^0: LiftPool halves"),
        (nn.Sequential(nn.MaxPool2d(2)), {"pool": 3}, TypeError, "pool must be a name, a class or a callable"),
    ],
)
def test_bad_arguments_fail_clearly(model: nn.Module, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        replace_pooling(model, example_input=torch.randn(1, 3, 16, 16), **kwargs)


def test_stride_1_pools_are_left_alone_and_reported() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(3, 1, 1), nn.AvgPool2d(2), nn.MaxPool2d(2))
    keeps_size = model[1]
    x = torch.randn(2, 3, 16, 16)
    expected = model(x).shape
    report = replace_pooling(model, "lift", x[:1])
    assert report.paths == ["2", "3"] and report.skipped == [("1", KEEPS_SIZE)]
    assert model[1] is keeps_size and isinstance(model[2], LiftDownPool2d) and isinstance(model[3], LiftDownPool2d)
    assert model(x).shape == expected == (2, 4, 4, 4)
    assert "left alone: 1 (stride 1, does not downsample; name it in include=" in str(report)

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(3, 1, 1), nn.AvgPool2d(2), nn.MaxPool2d(2))
    report = replace_pooling(model, "lift", x[:1], skip_stem=True)  # the stem is the first pool that downsamples
    assert report.paths == ["3"] and report.skipped == [("1", KEEPS_SIZE), ("2", "stem (skip_stem=True)")]

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(3, 1, 1), nn.AvgPool2d(2))
    report = replace_pooling(model, "blur", x[:1], include=["*"])  # named: swapped for a pool that keeps the size
    assert report.paths == ["1", "2"] and report.skipped == []
    assert isinstance(model[1], MaxBlurPool) and model(x).shape == (2, 4, 8, 8)


def test_skip_keeps_a_stride_4_pools_shape() -> None:
    model = nn.Sequential(nn.MaxPool2d(4))
    replace_pooling(model, "skip", torch.randn(1, 3, 16, 16))
    assert isinstance(model[0], SkipPool)


def test_failing_dry_run_names_the_input_shape() -> None:
    with pytest.raises(RuntimeError, match=r"example_input of shape \(1, 5, 16, 16\)"):
        replace_pooling(resnet18(), "lift", torch.randn(1, 5, 16, 16))


def test_a_failed_surgery_changes_nothing() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.MaxPool2d(3, 1, 1))
    with pytest.raises(ValueError, match="1: LiftPool halves every axis"):
        replace_pooling(model, "lift", torch.randn(1, 3, 16, 16), strided_convs=True, include=["0", "1"])
    assert model[0].stride == (2, 2) and type(model[1]) is nn.MaxPool2d


@pytest.mark.slow
def test_compile_after_surgery() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2)
    )
    replace_pooling(model, "lift", torch.randn(1, 3, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(torch.compile(model)(x), model(x), rtol=1e-4, atol=1e-5)
