"""Textured shapes on cluttered backgrounds, generated from a seed, no download.

Each image shows one (classification) or several (segmentation) filled shapes: disk, square, triangle, cross, ring,
diamond, horizontal bar, vertical bar. Shapes have a random size, position, colour and a striped texture; the
background is a colour gradient with stripes of its own, small distractor blobs and pixel noise. Telling a ring from a
disk or a cross from two bars needs spatial detail that careless pooling throws away, so pooling choices show.
Item ``i`` depends only on ``(seed, split, i)``: the same on every machine, in every worker and every epoch.
The dataset and its renderer need torch alone; ``SyntheticShapesDataModule`` wraps them for training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

SHAPES = ("disk", "square", "triangle", "cross", "ring", "diamond", "hbar", "vbar")
_SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_003}
SYNTHETIC_MEAN = (0.5, 0.5, 0.5)  # images are in [0, 1]; normalised to about zero mean and unit spread
SYNTHETIC_STD = (0.25, 0.25, 0.25)


def _shape_mask(kind: str, rows: Tensor, cols: Tensor, cy: float, cx: float, radius: float) -> Tensor:
    """Boolean mask of one shape centred at (cy, cx) with half-size ``radius`` on a pixel grid."""
    dy, dx = rows - cy, cols - cx
    if kind == "disk":
        return dy**2 + dx**2 <= radius**2
    if kind == "square":
        return (dy.abs() <= radius * 0.85) & (dx.abs() <= radius * 0.85)
    if kind == "triangle":
        return (dy <= radius * 0.8) & (dy >= -radius) & (dx.abs() <= (dy + radius) * 0.6)
    if kind == "cross":
        arm = radius * 0.3
        return ((dy.abs() <= arm) & (dx.abs() <= radius)) | ((dx.abs() <= arm) & (dy.abs() <= radius))
    if kind == "ring":
        distance = dy**2 + dx**2
        return (distance <= radius**2) & (distance >= (radius * 0.55) ** 2)
    if kind == "diamond":
        return dy.abs() + dx.abs() <= radius
    if kind == "hbar":
        return (dy.abs() <= radius * 0.3) & (dx.abs() <= radius)
    if kind == "vbar":
        return (dx.abs() <= radius * 0.3) & (dy.abs() <= radius)
    raise ValueError(f"unknown shape {kind!r}")


def _stripes(rows: Tensor, cols: Tensor, generator: torch.Generator) -> Tensor:
    angle = float(torch.rand((), generator=generator)) * math.pi
    period = 2.5 + float(torch.rand((), generator=generator)) * 5
    phase = float(torch.rand((), generator=generator)) * 2 * math.pi
    return torch.sin((rows * math.sin(angle) + cols * math.cos(angle)) * 2 * math.pi / period + phase)


def render_scene(
    size: int, shapes: list[int], generator: torch.Generator, noise: float = 0.08, clutter: int = 4
) -> tuple[Tensor, Tensor]:
    """One image (3, size, size) in [0, 1] and its mask (size, size): 0 background, k + 1 for shape class k.

    Later shapes are drawn over earlier ones.
    """
    rows = torch.arange(size, dtype=torch.float32).view(-1, 1).expand(size, size)
    cols = torch.arange(size, dtype=torch.float32).view(1, -1).expand(size, size)
    low, high = torch.rand(2, 3, 1, 1, generator=generator)
    direction = torch.rand((), generator=generator) * 2 * math.pi
    ramp = (rows * torch.cos(direction) + cols * torch.sin(direction)) / (size * 1.5) + 0.5
    image = low + (high - low) * ramp
    image = image + 0.12 * _stripes(rows, cols, generator) * torch.rand(3, 1, 1, generator=generator)
    for _ in range(clutter):  # distractor blobs, smaller than the shapes
        cy, cx = (torch.rand(2, generator=generator) * size).tolist()
        radius = size * (0.04 + 0.06 * float(torch.rand((), generator=generator)))
        blob = _shape_mask("disk", rows, cols, cy, cx, radius)
        image = torch.where(blob, torch.rand(3, 1, 1, generator=generator), image)
    mask = torch.zeros(size, size, dtype=torch.long)
    for label in shapes:
        radius = size * (0.18 + 0.14 * float(torch.rand((), generator=generator)))
        margin = radius * 0.9
        cy, cx = (margin + torch.rand(2, generator=generator) * (size - 2 * margin)).tolist()
        region = _shape_mask(SHAPES[label], rows, cols, cy, cx, radius)
        colour = torch.rand(3, 1, 1, generator=generator)
        texture = colour + 0.25 * _stripes(rows, cols, generator) * torch.rand(3, 1, 1, generator=generator)
        image = torch.where(region, texture, image)
        mask = torch.where(region, torch.tensor(label + 1), mask)
    image = image + noise * torch.randn(3, size, size, generator=generator)
    return image.clamp(0, 1), mask


class SyntheticShapes(Dataset):
    """Deterministic textured-shape images: ``(image, class)`` or ``(image, mask)`` pairs.

    Args:
        length: number of items.
        task: ``classification`` (one shape, label = its class) or ``segmentation`` (1-3 shapes, mask with 0 =
            background and k + 1 = shape class k).
        image_size: side of the square images.
        num_shapes: how many of the shape classes to use (2-8).
        split: ``train``, ``val`` or ``test``: disjoint random streams.
        seed: base seed.
        transform: applied to the image tensor (classification) or to (image, mask) (segmentation).
    """

    def __init__(
        self,
        length: int,
        task: Literal["classification", "segmentation"] = "classification",
        image_size: int = 32,
        num_shapes: int = 8,
        split: Literal["train", "val", "test"] = "train",
        seed: int = 0,
        transform: Callable | None = None,
    ) -> None:
        if not 2 <= num_shapes <= len(SHAPES):
            raise ValueError(f"num_shapes must be in 2..{len(SHAPES)}, got {num_shapes}")
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        self.length = length
        self.task = task
        self.image_size = image_size
        self.num_shapes = num_shapes
        self.offset = seed * 10_000_019 + _SPLIT_OFFSET[split]
        self.transform = transform
        self.names = [f"{split}_{i:06d}" for i in range(length)]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor | int]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        generator = torch.Generator().manual_seed(self.offset + index)
        if self.task == "classification":
            label = int(torch.randint(self.num_shapes, (), generator=generator))
            image, _ = render_scene(self.image_size, [label], generator)
            image = self.transform(image) if self.transform else image
            return image, label
        count = int(torch.randint(1, 4, (), generator=generator))
        labels = torch.randint(self.num_shapes, (count,), generator=generator).tolist()
        image, mask = render_scene(self.image_size, labels, generator)
        if self.transform:
            image, mask = self.transform(image, mask)
        return image, mask


class ShapesTransform:
    """Normalise an image (and pass its mask through), optionally after a random horizontal flip of both.

    A class rather than a closure so datasets pickle into spawned DataLoader workers. The flip draws from the
    global RNG, which Lightning's ``seed_everything`` seeds per worker.
    """

    def __init__(self, flip: bool = False) -> None:
        self.flip = flip

    def __call__(self, image: Tensor, mask: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        if self.flip and torch.rand(()) < 0.5:
            image, mask = image.flip(-1), None if mask is None else mask.flip(-1)
        image = (image - SYNTHETIC_MEAN[0]) / SYNTHETIC_STD[0]
        return image if mask is None else (image, mask)
