"""Networks by name, with their pooling swapped by the surgery: what configs refer to.

``create_network("resnet50", num_classes=1000, pool="lift")`` builds torchvision's ResNet50 and replaces its max
pool with a LiftDownPool; the surgery report is kept on the model as ``model.pooling_report``. Besides the
registered networks, any torchvision classification model name (``torchvision.models.list_models``) works, and
``timm/<architecture>`` builds a timm model (``timm_backbones``; timm is the optional ``[timm]`` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import torch
import torchvision
from torch import nn

from liftpool_lightning.models.checkpoint_weights import load_matching_weights
from liftpool_lightning.models.deeplabv3plus import DeepLabV3Plus
from liftpool_lightning.models.segnet import SegNet
from liftpool_lightning.models.small_segnet import SmallSegNet
from liftpool_lightning.models.small_vgg import SmallVGG
from liftpool_lightning.models.timm_backbones import (
    build_timm_network,
    is_timm_name,
    timm_architecture,
    timm_input_size,
)
from liftpool_lightning.models.vgg_cifar import VGGCifar
from liftpool_lightning.surgery import PoolSpec, SurgeryReport, replace_pooling
from liftpool_lightning.surgery.sites import find_sites


@dataclass(frozen=True)
class NetworkSpec:
    """How to build a registered network and run its surgery."""

    build: Callable[..., nn.Module]
    task: str  # "classification" or "segmentation"
    input_size: int  # side of the square example input of the surgery's dry run
    # no pooling layers: the surgery needs strided_convs; None: decided on the built model (``downsamples_by_stride``)
    downsamples_by_stride: bool | None = False


def _torchvision(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, weights: str | None = None, **kwargs: Any) -> nn.Module:
        return torchvision.models.get_model(name, weights=weights, num_classes=num_classes, **kwargs)

    return build


def _timm(arch: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, weights: str | None = None, **kwargs: Any) -> nn.Module:
        return build_timm_network(arch, num_classes, weights=weights, **kwargs)

    return build


def downsamples_by_stride(model: nn.Module) -> bool:
    """Whether ``model`` has no pooling layer that downsamples (the surgery's own site search), so that it shrinks
    its maps by strided convolutions alone (EfficientNet, RegNet, MobileNet)."""
    sites, _, _ = find_sites(model, strided_convs=False)
    return not any(site.downsamples for site in sites)


def _small_vgg(num_classes: int, weights: str | None = None, **kwargs: Any) -> nn.Module:
    if weights is not None:
        raise ValueError("weights: small_vgg has no pretrained weights")
    return SmallVGG(num_classes, **kwargs)


def _small_segnet(num_classes: int, weights: str | None = None, **kwargs: Any) -> nn.Module:
    if weights is not None:
        raise ValueError("weights: small_segnet has no pretrained weights")
    return SmallSegNet(num_classes, **kwargs)


def _deeplabv3plus(num_classes: int, weights: str | None = None, **kwargs: Any) -> nn.Module:
    return DeepLabV3Plus(num_classes, backbone_weights=weights, **kwargs)  # weights of its ImageNet backbone


NETWORKS: dict[str, NetworkSpec] = {
    "small_vgg": NetworkSpec(_small_vgg, "classification", 32),
    "vgg13_bn_cifar": NetworkSpec(VGGCifar, "classification", 32),
    "resnet18": NetworkSpec(_torchvision("resnet18"), "classification", 224),
    "resnet50": NetworkSpec(_torchvision("resnet50"), "classification", 224),
    "mobilenet_v2": NetworkSpec(_torchvision("mobilenet_v2"), "classification", 224, downsamples_by_stride=True),
    "segnet_vgg13_bn": NetworkSpec(SegNet, "segmentation", 128),
    "small_segnet": NetworkSpec(_small_segnet, "segmentation", 64),
    "deeplabv3plus_resnet50": NetworkSpec(_deeplabv3plus, "segmentation", 128),
}


def network_names() -> list[str]:
    """Registered names, then every torchvision classification model (``timm/<architecture>`` names are not listed:
    any of ``timm.list_models()`` works)."""
    return [*NETWORKS, *(n for n in torchvision.models.list_models(module=torchvision.models) if n not in NETWORKS)]


def network_spec(name: str) -> NetworkSpec:
    if name in NETWORKS:
        return NETWORKS[name]
    if is_timm_name(name):
        arch = timm_architecture(name)
        return NetworkSpec(_timm(arch), "classification", timm_input_size(arch), downsamples_by_stride=None)
    if name in torchvision.models.list_models(module=torchvision.models):
        return NetworkSpec(_torchvision(name), "classification", 224)
    raise ValueError(
        f"unknown network {name!r}; choose from {', '.join(NETWORKS)}, a torchvision classification model name or "
        "timm/<architecture>"
    )


class _WithPoolingReport(Protocol):
    """A model after ``create_network`` or a task's pooling swap: the surgery report kept on it."""

    pooling_report: SurgeryReport


def set_pooling_report(model: nn.Module, report: SurgeryReport) -> None:
    """Keep ``report`` on ``model`` as ``model.pooling_report``, a plain attribute (torch types ``Module``'s
    attribute assignment for tensors and submodules only)."""
    cast(_WithPoolingReport, model).pooling_report = report


def swap_pooling(
    model: nn.Module,
    pool: PoolSpec | None,
    pool_options: dict[str, Any] | None,
    up_pool: str | None,
    strided_convs: bool,
    input_size: int,
) -> SurgeryReport:
    """Run the surgery for a pool choice on a 3-channel image model (dry run on a ``input_size`` square image);
    an empty report when neither ``pool`` nor ``up_pool`` is chosen."""
    if pool is None and up_pool is None:
        return SurgeryReport()
    return replace_pooling(
        model,
        pool if pool is not None else "max",
        torch.zeros(1, 3, input_size, input_size),
        up_pool=up_pool,
        strided_convs=strided_convs,
        **(pool_options or {}),
    )


def create_network(
    name: str,
    num_classes: int,
    pool: PoolSpec | None = None,
    pool_options: dict[str, Any] | None = None,
    up_pool: str | None = None,
    strided_convs: bool | None = None,
    weights: str | None = None,
    backbone_checkpoint: str | Path | None = None,
    input_size: int | None = None,
    **network_options: Any,
) -> nn.Module:
    """Build a network and swap its pooling.

    Args:
        name: a registered network (``small_vgg``, ``vgg13_bn_cifar``, ``resnet18``, ``resnet50``, ``mobilenet_v2``,
            ``segnet_vgg13_bn``, ``small_segnet``, ``deeplabv3plus_resnet50``), a torchvision classification model
            name, or
            ``timm/<architecture>`` for any timm model (e.g. ``timm/efficientnet_b0``; needs the ``[timm]`` extra).
        num_classes: output classes.
        pool: the pool put in place of the network's own (see ``replace_pooling``); None keeps the network as
            published (max pools, or strided convolutions for MobileNetV2).
        pool_options: options of the pool, e.g. ``{"kernel_size": 3}`` for ``lift``.
        up_pool: for SegNets: ``maxunpool``, ``maxunpool+blur``, ``lift`` or ``bilinear``.
        strided_convs: swap strided convolutions too; default True for networks without pooling layers (for timm
            models: found on the built model, e.g. True for EfficientNet and RegNet, False for ResNet).
        weights: torchvision weights name for the network (or its ImageNet backbone); for ``timm/`` networks timm's
            pretrained tag (``"a1_in1k"``, ``"resnet18.a1_in1k"`` or ``"default"``); None for random init.
        backbone_checkpoint: a checkpoint (e.g. a LiftPool ResNet50 trained by this framework) to initialise the
            backbone of DeepLabV3+ from, after the surgery so that LiftPool parameters load too.
        input_size: side of the surgery's example input (default: the network's usual size).
        **network_options: passed to the network's constructor (e.g. ``output_stride=8``).
    """
    spec = network_spec(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    model = spec.build(num_classes=num_classes, weights=weights, **network_options)
    if strided_convs is None:
        by_stride = spec.downsamples_by_stride
        strided_convs = downsamples_by_stride(model) if by_stride is None else by_stride
    report = swap_pooling(model, pool, pool_options, up_pool, strided_convs, input_size or spec.input_size)
    if backbone_checkpoint is not None:
        backbone = getattr(model, "backbone", None)
        if backbone is None:
            raise ValueError(f"backbone_checkpoint: network {name!r} has no backbone")
        missing = load_matching_weights(backbone, backbone_checkpoint)
        if missing:
            raise ValueError(
                f"backbone_checkpoint {backbone_checkpoint} lacks {len(missing)} backbone tensors, e.g. {missing[0]}"
            )
    set_pooling_report(model, report)
    return model
