"""VGG13-BN for 32x32 inputs (CIFAR): torchvision's VGG13-BN feature stack (5 max pools) and a linear classifier."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import vgg13_bn


class VGGCifar(nn.Module):
    """VGG13-BN for CIFAR: 32x32 -> 5 pools -> 1x1x512 -> dropout -> linear ``num_classes``.

    ``features`` is torchvision's ``vgg13_bn().features`` (same module names, so its ImageNet weights load).
    """

    def __init__(self, num_classes: int = 100, dropout: float = 0.5, weights: str | None = None) -> None:
        super().__init__()
        self.features = vgg13_bn(weights=weights).features
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(512, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)  # 1x1 for 32x32 inputs, any size works
        return self.classifier(x)
