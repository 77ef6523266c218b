"""RGB <-> HSV for float images in [0, 1] (channel dimension -3), as scikit-image defines them."""

from __future__ import annotations

import torch
from torch import Tensor


def rgb_to_hsv(image: Tensor) -> Tensor:
    r, g, b = image.unbind(-3)
    value, _ = image.max(-3)
    chroma = value - image.min(-3).values
    saturation = torch.where(value > 0, chroma / value.clamp(min=1e-12), torch.zeros_like(value))
    safe = chroma.clamp(min=1e-12)
    hue = torch.where(value == r, ((g - b) / safe) % 6, torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(chroma > 0, hue / 6, torch.zeros_like(hue)) % 1.0
    return torch.stack((hue, saturation, value), dim=-3)


def hsv_to_rgb(image: Tensor) -> Tensor:
    hue, saturation, value = image.unbind(-3)
    sector = torch.floor(hue * 6)
    fraction = hue * 6 - sector
    p = value * (1 - saturation)
    q = value * (1 - fraction * saturation)
    t = value * (1 - (1 - fraction) * saturation)
    index = sector.long() % 6
    choices = torch.stack(
        [
            torch.stack(channels, dim=-3)
            for channels in ((value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q))
        ]
    )  # (6, ..., 3, H, W)
    gather = index.unsqueeze(-3).expand_as(image).unsqueeze(0)
    return torch.gather(choices, 0, gather).squeeze(0)
