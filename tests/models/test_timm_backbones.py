"""``network: timm/<architecture>``: timm ConvNets of three families through the surgery, weights as timm's pretrained
tag, the errors for unknown names and a missing timm, and one ``liftpool fit`` through the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from liftpool_lightning import LiftDownPool2d, lifting_loss
from liftpool_lightning.models import create_network
from liftpool_lightning.models.registry import network_spec
from liftpool_lightning.models.timm_backbones import timm_pretrained_name
from liftpool_lightning.surgery import ConvThenPool

timm = pytest.importorskip("timm")


def _lift_pool_at(model: nn.Module, path: str) -> LiftDownPool2d:
    """The LiftDownPool2d the surgery put at ``path`` (alone, or after the stride-1 conv of a strided conv)."""
    module = model.get_submodule(path)
    if isinstance(module, ConvThenPool):
        module = module[1]
    assert isinstance(module, LiftDownPool2d), f"{path}: {type(module).__name__}"
    return module


@pytest.mark.parametrize(
    ("arch", "by_stride", "replaced"),
    [
        ("resnet10t", False, ["maxpool", "layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]),
        ("regnetx_002", True, None),  # no pooling layer: every strided conv
        ("efficientnet_b0", True, None),
    ],
)
def test_timm_families_through_the_surgery(arch: str, by_stride: bool, replaced: list[str] | None) -> None:
    name = f"timm/{arch}"
    assert network_spec(name).input_size == timm.models.get_pretrained_cfg(arch).input_size[-1]
    model = create_network(name, num_classes=7, pool="lift", weights=None, input_size=64)
    report = model.pooling_report
    assert len(report) > 0
    if replaced is not None:  # ResNet-T: its stem max pool and the average pools of its shortcuts (avg_down)
        assert report.paths == replaced
    pools = [_lift_pool_at(model, path) for path in report.paths]
    assert sum(isinstance(m, LiftDownPool2d) for m in model.modules()) == len(pools)
    # strided mode was picked from the built model: only networks without pooling layers swap their strided convs
    assert any(isinstance(model.get_submodule(p), ConvThenPool) for p in report.paths) == by_stride

    model.train()
    out = model(torch.randn(2, 3, 48, 48))
    assert out.shape == (2, 7)
    (out.square().mean() + lifting_loss(model)).backward()
    for pool in pools:
        grads = [p.grad for p in pool.parameters()]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_strided_convs_can_be_asked_for_on_a_resnet() -> None:
    model = create_network("timm/resnet10t", num_classes=3, pool="lift", strided_convs=True, input_size=64)
    assert "layer2.0.conv1" in model.pooling_report.paths
    assert isinstance(model.get_submodule("layer2.0.conv1"), ConvThenPool)


def test_pool_none_keeps_the_timm_model_as_published() -> None:
    model = create_network("timm/regnetx_002", num_classes=3)
    assert len(model.pooling_report) == 0
    assert not any(isinstance(m, LiftDownPool2d) for m in model.modules())


def test_unknown_architecture_suggests_close_names() -> None:
    with pytest.raises(ValueError, match=r"no architecture 'resnet1'; did you mean timm/resnet18"):
        create_network("timm/resnet1", num_classes=3)
    with pytest.raises(ValueError, match=r"names no architecture"):
        network_spec("timm/")


def test_the_tag_goes_in_weights_not_in_the_name() -> None:
    with pytest.raises(ValueError, match=r"timm/resnet18\) and give the pretrained tag as weights \('a1_in1k'\)"):
        network_spec("timm/resnet18.a1_in1k")


def test_weights_are_timms_pretrained_tag() -> None:
    assert timm_pretrained_name("resnet18", None) is None
    assert timm_pretrained_name("resnet18", "a1_in1k") == "resnet18.a1_in1k"
    assert timm_pretrained_name("resnet18", "resnet18.a1_in1k") == "resnet18.a1_in1k"
    default = timm.models.get_pretrained_cfg("resnet18").tag
    assert timm_pretrained_name("resnet18", "default") == f"resnet18.{default}"
    with pytest.raises(ValueError, match=r"no pretrained tag 'imagenet'; its tags: .*a1_in1k"):
        timm_pretrained_name("resnet18", "imagenet")


def test_a_tag_is_passed_to_timm_create_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """No download here: timm.create_model is replaced by a recorder that builds the random model."""
    calls = []
    create = timm.create_model

    def record(model_name: str, pretrained: bool = False, **kwargs: object) -> nn.Module:
        calls.append((model_name, pretrained, kwargs.get("num_classes")))
        return create(model_name.split(".")[0], pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", record)
    create_network("timm/resnet10t", num_classes=4, weights="c3_in1k")
    assert calls == [("resnet10t.c3_in1k", True, 4)]


def test_missing_timm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # what an environment without timm gives: ImportError
    with pytest.raises(ImportError, match=r"pip install 'liftpool-lightning\[timm\]'"):
        create_network("timm/resnet18", num_classes=3)


def test_liftpool_fit_with_a_timm_network_and_its_checkpoint_rebuilds_it(tmp_path: Path) -> None:
    from liftpool_lightning.cli import main
    from liftpool_lightning.tasks import ClassificationTask
    from tests.cli.conftest import QUICKSTART, tiny_args

    network = ["--model.init_args.network=timm/resnet10t", "--model.init_args.input_size=32"]
    steps = ["--trainer.max_steps=1", "--trainer.limit_val_batches=1"]
    status = main(["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path), *network, *steps])
    assert status == 0
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    task = ClassificationTask.load_from_checkpoint(last)  # the network is rebuilt from its name in the hparams
    assert task.hparams.network == "timm/resnet10t"
    assert isinstance(task.network, timm.models.ResNet)
    assert isinstance(task.network.maxpool, LiftDownPool2d)
    state = torch.load(last, weights_only=True)["state_dict"]
    key = "network.maxpool.update.weight"
    torch.testing.assert_close(task.state_dict()[key], state[key])
