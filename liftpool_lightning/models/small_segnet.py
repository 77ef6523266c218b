"""A small SegNet for the embedded synthetic scenes: the segmentation quickstart trains it in minutes on a CPU."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from liftpool_lightning.models.segnet import encode_decode


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for channels in (in_channels, out_channels):
        layers += [nn.Conv2d(channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]
    return nn.Sequential(*layers)


class SmallSegNet(nn.Module):
    """SegNet in small: encoder stages of two conv-BN-ReLU layers, each followed by a 2x2 max pool that returns its
    indices; a mirrored decoder whose stages each start with the max unpool of the matching pool; a 3x3 convolution
    to ``num_classes`` logits at the input resolution.

    The decoder's only way back to full resolution is its up-pools, so what they restore decides the edges:
    ``replace_pooling(model, "lift")`` pairs each pool with its unpool (LiftDownPool keeping LL, LiftUpPool putting
    the detail bands back), ``up_pool="maxunpool+blur"`` blurs after each unpool, ``up_pool="bilinear"`` ignores the
    indices. Defaults: widths 16-32-64, three pools (64x64 -> 8x8), 0.11M parameters.
    """

    def __init__(self, num_classes: int = 9, widths: Sequence[int] = (16, 32, 64), in_channels: int = 3) -> None:
        super().__init__()
        if not widths:
            raise ValueError("widths: give at least one stage width")
        channels = [in_channels, *widths]
        self.encoder = nn.ModuleList(_stage(channels[i], channels[i + 1]) for i in range(len(widths)))
        self.pools = nn.ModuleList(nn.MaxPool2d(2, 2, return_indices=True) for _ in widths)
        self.unpools = nn.ModuleList(nn.MaxUnpool2d(2, 2) for _ in widths)
        out = [widths[0], *widths[:-1]]  # each decoder stage ends at the width of the encoder stage before it
        self.decoder = nn.ModuleList(_stage(widths[i], out[i]) for i in reversed(range(len(widths))))
        self.classifier = nn.Conv2d(widths[0], num_classes, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:  # unpool i undoes pool i
        return self.classifier(encode_decode(x, self.encoder, self.pools, self.decoder, reversed(self.unpools)))
