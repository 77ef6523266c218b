"""SegNet (Badrinarayanan et al. 2017) with a VGG13-BN encoder and a mirrored decoder.

The encoder pools with ``MaxPool2d(2, 2, return_indices=True)`` and the decoder up-samples with ``MaxUnpool2d``;
``replace_pooling(..., pool="lift")`` turns each pair into a LiftDownPool that keeps LL and a LiftUpPool that uses
its LH/HL/HH (the paper's Table 6), ``up_pool="maxunpool+blur"`` adds a blur after each MaxUnpool,
``up_pool="bilinear"`` interpolates instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn
from torchvision.models import vgg13_bn

_VGG13_STAGES = ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512))


def encode_decode(
    x: Tensor,
    encoder: Iterable[nn.Module],
    pools: Iterable[nn.Module],
    decoder: Iterable[nn.Module],
    unpools: Iterable[nn.Module],
) -> Tensor:
    """SegNet's pass: each encoder stage then its pool (kept: the indices and the size before pooling), then each
    decoder stage after an unpool of the last pool not yet undone; ``unpools`` in the order the decoder calls them."""
    sizes, indices = [], []
    for stage, pool in zip(encoder, pools, strict=True):
        x = stage(x)
        sizes.append(x.shape)
        x, index = pool(x)
        indices.append(index)
    for stage, unpool in zip(decoder, unpools, strict=True):
        x = stage(unpool(x, indices.pop(), output_size=sizes.pop()))
    return x


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class SegNet(nn.Module):
    """SegNet-VGG13-BN: five encoder stages each followed by a 2x2 max pool, five mirrored decoder stages each
    preceded by a max unpool, then a 3x3 convolution to ``num_classes`` logits at the input resolution."""

    def __init__(self, num_classes: int = 21, in_channels: int = 3, weights: str | None = None) -> None:
        super().__init__()
        if weights is not None and in_channels != 3:
            raise ValueError("weights: ImageNet VGG13-BN weights need in_channels=3")
        features = list(vgg13_bn(weights=weights).features) if weights is not None else None
        encoder, channels, offset = [], in_channels, 0
        for widths in _VGG13_STAGES:
            layers: list[nn.Module] = []
            for width in widths:
                if features is not None:  # reuse torchvision's modules (and weights)
                    layers += features[offset : offset + 3]
                    offset += 3
                else:
                    layers += _conv_bn_relu(channels, width)
                channels = width
            offset += 1  # torchvision's pool
            encoder.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(encoder)
        self.pools = nn.ModuleList(nn.MaxPool2d(2, 2, return_indices=True) for _ in _VGG13_STAGES)
        self.unpools = nn.ModuleList(nn.MaxUnpool2d(2, 2) for _ in _VGG13_STAGES)
        decoder = []
        for index in reversed(range(len(_VGG13_STAGES))):
            widths = _VGG13_STAGES[index]
            out_width = _VGG13_STAGES[index - 1][-1] if index else 64
            decoder.append(nn.Sequential(*_conv_bn_relu(widths[-1], widths[0]), *_conv_bn_relu(widths[0], out_width)))
        self.decoder = nn.ModuleList(decoder)
        self.classifier = nn.Conv2d(64, num_classes, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(encode_decode(x, self.encoder, self.pools, self.decoder, self.unpools))
