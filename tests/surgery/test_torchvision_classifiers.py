"""replace_pooling(pool="lift") on torchvision's classifiers: downsampling pools replaced, stride-1 pools left alone
and reported, the logits' shape kept; the slow test covers every classification model torchvision lists."""

from __future__ import annotations

import logging

import pytest
import torch
import torchvision
from torch import nn

from liftpool_lightning import LiftDownPool2d, replace_pooling
from liftpool_lightning.surgery.replace import KEEPS_SIZE

POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
ALL_POOLS = (*POOLS, nn.LPPool1d, nn.LPPool2d, nn.FractionalMaxPool2d, nn.FractionalMaxPool3d)
INCEPTIONS = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]

# smallest square inputs that keep the tests fast: inception_v3 needs 75 (odd sizes before its unpadded k=3, s=2
# pools, which LiftPool's halving matches), maxvit_t is built for 224
INPUT_SIZE = {"inception_v3": 75, "maxvit_t": 224}
BUILD_OPTIONS = {"googlenet": {"init_weights": True}, "inception_v3": {"init_weights": True}}


def _pool_paths(model: nn.Module) -> list[str]:
    return [path for path, module in model.named_modules() if type(module) in POOLS]


def _keeps_size(pool: nn.Module) -> bool:
    stride = pool.stride or pool.kernel_size
    return all(step == 1 for step in (stride if isinstance(stride, tuple) else (stride,)))


def test_googlenet_keeps_its_stride_1_branch_pools() -> None:
    model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()
    x = torch.randn(2, 3, 64, 64)
    expected = model(x).shape
    branch_pools = {name: model.get_submodule(f"inception{name}.branch4.0") for name in INCEPTIONS}
    report = replace_pooling(model, pool="lift", example_input=x[:1])
    assert report.paths == ["maxpool1", "maxpool2", "maxpool3", "maxpool4"]
    assert all(isinstance(model.get_submodule(path), LiftDownPool2d) for path in report.paths)
    outputs = [(1, 64, 16, 16), (1, 192, 8, 8), (1, 480, 4, 4), (1, 832, 2, 2)]
    assert [r.output_shape for r in report.replacements] == outputs
    assert report.skipped == [(f"inception{name}.branch4.0", KEEPS_SIZE) for name in INCEPTIONS]
    for name, pool in branch_pools.items():  # the very same MaxPool2d(3, stride=1, padding=1) modules
        assert model.get_submodule(f"inception{name}.branch4.0") is pool and pool.stride == 1
    assert model.eval()(x).shape == expected == (2, 1000)
    assert "left alone: inception3a.branch4.0 (stride 1, does not downsample; name it in include=" in str(report)


def test_googlenet_stride_1_pool_targeted_explicitly() -> None:
    model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).eval()
    x = torch.randn(1, 3, 64, 64)
    message = r"^inception3a\.branch4\.0: LiftPool halves every axis, but this layer has stride \(1, 1\)"
    with pytest.raises(ValueError, match=message):
        replace_pooling(model, pool="lift", example_input=x, include=["inception3a.branch4.0", "maxpool*"])
    assert all(type(module) is nn.MaxPool2d for module in model.modules() if type(module) in POOLS)  # unchanged
    report = replace_pooling(model, pool="avg", example_input=x, include=["inception3a.branch4.0"])
    assert report.paths == ["inception3a.branch4.0"] and report.skipped == []
    pool = model.inception3a.branch4[0]
    assert isinstance(pool, nn.AvgPool2d) and (pool.kernel_size, pool.stride, pool.padding) == ((3, 3), (1, 1), (1, 1))
    assert model(x).shape == (1, 1000)


def test_inception_v3_downsampling_pools(caplog: pytest.LogCaptureFixture) -> None:
    model = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True).eval()
    x = torch.randn(2, 3, 75, 75)
    expected = model(x).shape
    with caplog.at_level(logging.WARNING, logger="liftpool_lightning.surgery.replace"):
        report = replace_pooling(model, pool="lift", example_input=x[:1])
    assert report.paths == ["maxpool1", "maxpool2"] and report.skipped == []  # its stride-1 pools are functional
    assert [r.output_shape for r in report.replacements] == [(1, 64, 17, 17), (1, 192, 7, 7)]
    assert isinstance(model.maxpool1, LiftDownPool2d) and isinstance(model.maxpool2, LiftDownPool2d)
    assert model.eval()(x).shape == expected == (2, 1000)
    # MaxPool2d(3, 2) gives n/2 - 1 on an even size, where halving gives n/2: said, not hidden
    assert "maxpool1: the new pool keeps the output shape for the example input only" in caplog.text


def _build(name: str, device: str) -> nn.Module:
    return torchvision.models.get_model(name, weights=None, **BUILD_OPTIONS.get(name, {})).to(device)


@pytest.mark.slow
@pytest.mark.parametrize("name", torchvision.models.list_models(module=torchvision.models))
def test_every_torchvision_classifier(name: str) -> None:
    try:
        with torch.device("meta"):  # the layout alone, without initialising the weights
            model = torchvision.models.get_model(name, weights=None, **BUILD_OPTIONS.get(name, {}))
    except NotImplementedError:  # builders that compute on tensors (RegNet's widths)
        model = _build(name, "cpu")
    if not _pool_paths(model):
        assert not any(isinstance(module, ALL_POOLS) for module in model.modules())  # genuinely no pool
        with pytest.raises(ValueError, match=f"found no pooling layer to replace in {type(model).__name__}"):
            replace_pooling(model, pool="lift")
        return

    model = _build(name, "cpu").eval()
    size = INPUT_SIZE.get(name, 64)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        expected = model(x).shape
    pools = _pool_paths(model)
    stride_1 = [path for path in pools if _keeps_size(model.get_submodule(path))]
    report = replace_pooling(model, pool="lift", example_input=x)
    assert sorted(report.paths) == sorted(path for path in pools if path not in stride_1)
    assert report.skipped == [(path, KEEPS_SIZE) for path in stride_1]
    assert report.paths and all(isinstance(model.get_submodule(path), LiftDownPool2d) for path in report.paths)
    with torch.no_grad():
        assert model.eval()(x).shape == expected
