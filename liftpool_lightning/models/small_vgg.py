"""A small VGG-style network for the embedded synthetic data: the quickstart trains it in minutes on a CPU."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class SmallVGG(nn.Module):
    """Stages of two conv-BN-ReLU layers, each followed by a 2x2 max pool, then global average pooling and a
    linear classifier. Defaults: widths 32-64-128, three pools (32x32 -> 4x4), 0.29M parameters."""

    def __init__(self, num_classes: int = 8, widths: Sequence[int] = (32, 64, 128), in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))
