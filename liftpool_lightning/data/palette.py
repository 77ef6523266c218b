"""The PASCAL VOC colour palette, used to write label masks as palette PNGs."""

from __future__ import annotations


def voc_palette(num_colors: int = 256) -> list[int]:
    """Flat ``[r, g, b, r, g, b, ...]`` list of the VOC colour map (class 0 black, 255 the 'void' cream colour)."""
    palette = []
    for label in range(num_colors):
        red = green = blue = 0
        value = label
        for shift in range(7, -1, -1):
            red |= ((value >> 0) & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette += [red, green, blue]
    return palette
