"""DeepLabV3+ (Chen et al. 2018) on a torchvision ResNet: ASPP on the last stage, a decoder fusing stride-4 features.

torchvision ships DeepLabV3 without the "+" decoder; this adds it, reusing torchvision's ResNet and ASPP modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import resnet50
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.deeplabv3 import ASPP

_DILATION = {16: [False, False, True], 8: [False, True, True]}
_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ with a ResNet50 backbone.

    Args:
        num_classes: output classes (21 for PASCAL VOC).
        output_stride: 16 (paper default; ASPP rates 6/12/18) or 8 (rates 12/24/36), by dilating the last stages.
        backbone_weights: torchvision ResNet50 weights name (e.g. ``"IMAGENET1K_V1"``), or None.
    """

    def __init__(self, num_classes: int = 21, output_stride: int = 16, backbone_weights: str | None = None) -> None:
        super().__init__()
        if output_stride not in _DILATION:
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        resnet = resnet50(weights=backbone_weights, replace_stride_with_dilation=_DILATION[output_stride])
        self.backbone = IntermediateLayerGetter(resnet, return_layers={"layer1": "low_level", "layer4": "out"})
        self.aspp = ASPP(2048, list(_RATES[output_stride]), 256)
        self.low_level = nn.Sequential(nn.Conv2d(256, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(
            nn.Conv2d(256 + 48, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(256, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        features = self.backbone(x)
        low_level = self.low_level(features["low_level"])
        context = F.interpolate(
            self.aspp(features["out"]), size=low_level.shape[2:], mode="bilinear", align_corners=False
        )
        logits = self.classifier(self.decoder(torch.cat([context, low_level], dim=1)))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)
