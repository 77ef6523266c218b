"""``torch.hub`` entry points: every registered network with its pooling swapped, and ``from_pretrained``.

    model = torch.hub.load("OWNER/liftpool-lightning", "resnet18", pool="lift", num_classes=1000)
    model = torch.hub.load("path/to/liftpool-lightning", "vgg13_bn_cifar", source="local", pool="lift", num_classes=100)
    model = torch.hub.load("OWNER/liftpool-lightning", "from_pretrained", "user/liftpool-resnet18")  # weights too

Each network entry point takes ``pool`` (default ``"lift"``; None keeps the network's own pooling), ``num_classes``,
``pool_options``, ``up_pool``, ``strided_convs``, ``input_size``, ``weights`` (torchvision's weights name for the
network or its backbone, loaded before the pooling is swapped) or ``pretrained=True`` (torchvision's default weights),
and the network's own options; see ``liftpool_lightning.models.registry.create_network``.
"""

from __future__ import annotations

from collections.abc import Callable as _Callable
from typing import Any as _Any

from torch import nn as _nn

from liftpool_lightning.hub import create_model as _create_model
from liftpool_lightning.hub import from_pretrained
from liftpool_lightning.models.registry import NETWORKS as _NETWORKS

dependencies = ["torch", "torchvision"]

#: The classes of the data each network is usually trained on: the default ``num_classes``.
_DEFAULT_CLASSES = {"small_vgg": 8, "vgg13_bn_cifar": 100, "segnet_vgg13_bn": 21, "deeplabv3plus_resnet50": 21}


def _entry_point(name: str) -> _Callable[..., _nn.Module]:
    default_classes = _DEFAULT_CLASSES.get(name, 1000)

    def build(
        pool: str | None = "lift",
        num_classes: int = default_classes,
        pool_options: dict[str, _Any] | None = None,
        up_pool: str | None = None,
        strided_convs: bool | None = None,
        input_size: int | None = None,
        weights: str | None = None,
        pretrained: bool = False,
        **network_options: _Any,
    ) -> _nn.Module:
        if pretrained and weights is not None:
            raise ValueError("give pretrained=True or weights=..., not both")
        return _create_model(
            name,
            num_classes=num_classes,
            pool=pool,
            pool_options=pool_options,
            up_pool=up_pool,
            strided_convs=strided_convs,
            input_size=input_size,
            weights="DEFAULT" if pretrained else weights,
            network_options=network_options or None,
        )

    spec = _NETWORKS[name]
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"{name} ({spec.task}, default {default_classes} classes) with its pooling swapped by the surgery (default "
        "pool='lift'). pretrained=True: torchvision's default weights (where the network has them), before the swap."
    )
    return build


for _name in _NETWORKS:
    if _name.isidentifier():
        globals()[_name] = _entry_point(_name)

__all__ = ["dependencies", "from_pretrained", *(name for name in _NETWORKS if name.isidentifier())]
