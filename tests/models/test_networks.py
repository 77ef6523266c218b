"""Every network builds with every pool, runs forward and backward on CPU, and keeps the MaxPool version's shapes."""

import pytest
import torch

from liftpool_lightning import LiftDownPool2d, lifting_loss
from liftpool_lightning.models import DeepLabV3Plus, SegNet, create_network, network_names
from liftpool_lightning.surgery import DOWN_POOLS, LiftDownPoolWithIndices, LiftUnpool


def _forward_backward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.train()
    out = model(x)
    (out.float().square().mean() + lifting_loss(model)).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    return out


@pytest.mark.parametrize("pool", DOWN_POOLS)
def test_vgg13_bn_cifar_with_every_pool(pool: str) -> None:
    model = create_network("vgg13_bn_cifar", num_classes=100, pool=pool)
    assert len(model.pooling_report) == 5
    out = _forward_backward(model, torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 100)


@pytest.mark.parametrize("pool", ["lift", "wavelet", "blur", "skip", "gated"])
def test_resnet18_with_pools(pool: str) -> None:
    model = create_network("resnet18", num_classes=10, pool=pool, input_size=64)
    assert model.pooling_report.paths == ["maxpool"]
    assert _forward_backward(model, torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_resnet50_parameter_count() -> None:
    plain = create_network("resnet50", num_classes=1000)
    lift = create_network("resnet50", num_classes=1000, pool="lift", input_size=64)
    plain_count = sum(p.numel() for p in plain.parameters())
    lift_count = sum(p.numel() for p in lift.parameters())
    assert plain_count == 25_557_032  # the paper: 25.56M
    assert lift_count - plain_count == 2 * (64 * 5 + 3 * 64) == lift.pooling_report.added_parameters
    assert round(lift_count / 1e6, 2) == 25.56  # the paper reports 25.58M; see the README
    assert _forward_backward(lift, torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_mobilenet_v2_is_swapped_in_strided_mode() -> None:
    model = create_network("mobilenet_v2", num_classes=10, pool="lift", input_size=64)
    assert len(model.pooling_report) == 5
    assert sum(isinstance(m, LiftDownPool2d) for m in model.modules()) == 5
    assert _forward_backward(model, torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize(("pool", "up_pool"), [(None, None), ("max", "maxunpool+blur"), ("lift", None)])
def test_segnet_pools(pool: str | None, up_pool: str | None) -> None:
    model = create_network("segnet_vgg13_bn", num_classes=21, pool=pool, up_pool=up_pool, input_size=64)
    out = _forward_backward(model, torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 21, 64, 64)


def test_segnet_lift_pairs_every_pool_and_inverts_exactly() -> None:
    model = create_network("segnet_vgg13_bn", num_classes=21, pool="lift", input_size=64).double().eval()
    assert all(isinstance(p, LiftDownPoolWithIndices) for p in model.pools)
    assert all(isinstance(u, LiftUnpool) for u in model.unpools)
    for pool, unpool in zip(model.pools, reversed(model.unpools), strict=True):
        assert unpool.up.down is pool.pool and pool.pool.bands == ("ll",)
        channels = pool.pool.channels
        features = torch.randn(2, channels, 8, 6, dtype=torch.float64)
        low, _ = pool(features)
        restored = unpool(low, None, output_size=features.shape)
        torch.testing.assert_close(restored, features, rtol=0, atol=1e-10)


def test_deeplabv3plus_with_lift() -> None:
    model = create_network("deeplabv3plus_resnet50", num_classes=21, pool="lift", input_size=64)
    assert model.pooling_report.paths == ["backbone.maxpool"]
    out = _forward_backward(model, torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 21, 64, 64)
    assert DeepLabV3Plus(output_stride=8).eval()(torch.randn(1, 3, 32, 32)).shape == (1, 21, 32, 32)
    with pytest.raises(ValueError, match="output_stride must be 8 or 16"):
        DeepLabV3Plus(output_stride=32)


def test_deeplabv3plus_backbone_from_a_classification_checkpoint(tmp_path) -> None:
    classifier = create_network("resnet50", num_classes=1000, pool="lift", input_size=64)
    with torch.no_grad():
        classifier.maxpool.predict.weight.fill_(0.25)
        classifier.layer1[0].conv1.weight.fill_(0.5)
    path = tmp_path / "classifier.ckpt"  # laid out like a Lightning checkpoint of a task holding `network`
    torch.save({"state_dict": {f"network.{k}": v for k, v in classifier.state_dict().items()}, "epoch": 3}, path)
    model = create_network("deeplabv3plus_resnet50", 21, pool="lift", input_size=64, backbone_checkpoint=path)
    assert torch.equal(model.backbone.maxpool.predict.weight, classifier.maxpool.predict.weight)
    assert torch.equal(model.backbone.layer1[0].conv1.weight, classifier.layer1[0].conv1.weight)

    plain = tmp_path / "plain.pt"  # a checkpoint without LiftPool parameters
    torch.save(create_network("resnet50", num_classes=1000).state_dict(), plain)
    with pytest.raises(ValueError, match=r"lacks 8 backbone tensors, e\.g\. maxpool\.predict"):
        create_network("deeplabv3plus_resnet50", 21, pool="lift", input_size=64, backbone_checkpoint=plain)
    other = tmp_path / "resnet18.pt"  # a different network: shapes differ
    torch.save(create_network("resnet18", num_classes=10).state_dict(), other)
    with pytest.raises(ValueError, match="has shape"):
        create_network("deeplabv3plus_resnet50", 21, backbone_checkpoint=other)
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable checkpoint: not a torch file"):
        create_network("deeplabv3plus_resnet50", 21, backbone_checkpoint=junk)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_network("deeplabv3plus_resnet50", 21, backbone_checkpoint=tmp_path / "missing.ckpt")


def test_any_torchvision_classifier_by_name() -> None:
    assert "squeezenet1_1" in network_names()
    model = create_network("squeezenet1_1", num_classes=10, pool="lift", input_size=64)
    assert len(model.pooling_report) == 3  # MaxPool2d(3, 2, ceil_mode=True) x 3: floor-size LiftDownPools
    assert _forward_backward(model, torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_network_errors() -> None:
    with pytest.raises(ValueError, match="unknown network 'vgg99'"):
        create_network("vgg99", num_classes=10)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        create_network("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="has no backbone"):
        create_network("resnet18", num_classes=10, backbone_checkpoint="x.ckpt")
    with pytest.raises(ValueError, match="need in_channels=3"):
        SegNet(in_channels=1, weights="IMAGENET1K_V1")


def test_segnet_keeps_torchvision_vgg_module_names() -> None:
    model = SegNet()
    assert len(model.encoder) == 5 and len(model.decoder) == 5
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.encoder.modules()) == 10
