"""The standard transform pipelines (torchvision.transforms.v2) for CIFAR, ImageNet and VOC segmentation.

Classification pipelines take a PIL image. Segmentation pipelines take ``(tv_tensors.Image, tv_tensors.Mask)`` and
transform both jointly: masks stay integer (int64 out) with ``IGNORE_INDEX`` (255) marking pixels not to score.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IGNORE_INDEX = 255
EVAL_PAD_SIZE = 512  # VOC images are at most 500 x 500


def _to_normalised_tensor(mean: tuple[float, ...], std: tuple[float, ...]) -> list[v2.Transform]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std), v2.ToPureTensor()]


def cifar_train_transform() -> v2.Compose:
    """CIFAR training: random 32 x 32 crop of the 4-pixel zero-padded image, horizontal flip, normalise."""
    return v2.Compose(
        [v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), *_to_normalised_tensor(CIFAR100_MEAN, CIFAR100_STD)]
    )


def cifar_eval_transform() -> v2.Compose:
    """CIFAR evaluation: normalise only."""
    return v2.Compose(_to_normalised_tensor(CIFAR100_MEAN, CIFAR100_STD))


def imagenet_train_transform(size: int = 224) -> v2.Compose:
    """ImageNet training: random-resized crop to ``size``, horizontal flip, normalise."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(size, antialias=True),
            v2.RandomHorizontalFlip(),
            *_to_normalised_tensor(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def imagenet_eval_transform(size: int = 224) -> v2.Compose:
    """ImageNet evaluation: resize the short side to ``size * 256 / 224`` (256 for 224), centre crop, normalise."""
    return v2.Compose(
        [
            v2.Resize(round(size * 256 / 224), antialias=True),
            v2.CenterCrop(size),
            *_to_normalised_tensor(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


class RandomScale(v2.Transform):
    """Rescale image and mask by one factor drawn uniformly from ``scale_range`` (masks: nearest neighbour).

    Args:
        scale_range: (lowest, highest) scale factor.
    """

    def __init__(self, scale_range: tuple[float, float] = (0.5, 2.0)) -> None:
        super().__init__()
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        self.scale_range = scale_range

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        low, high = self.scale_range
        scale = low + (high - low) * float(torch.rand(()))
        return {"size": [max(1, round(height * scale)), max(1, round(width * scale))]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return F.resize(inpt, params["size"], antialias=True)

    _get_params, _transform = make_params, transform  # the names torchvision < 0.21 calls


class PadTo(v2.Transform):
    """Pad image and mask at the bottom and right to ``size`` x ``size``: image with 0, mask with ``IGNORE_INDEX``.

    Args:
        size: side of the padded square; larger inputs raise ``ValueError``.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        if height > self.size or width > self.size:
            raise ValueError(f"image of {height} x {width} is larger than the evaluation pad size {self.size}")
        return {"padding": [0, 0, self.size - width, self.size - height]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        fill = IGNORE_INDEX if isinstance(inpt, tv_tensors.Mask) else 0
        return F.pad(inpt, params["padding"], fill=fill)

    _get_params, _transform = make_params, transform  # the names torchvision < 0.21 calls


def _segmentation_tail() -> list[v2.Transform]:
    return [v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64}, scale=True)]


def segmentation_train_transform(crop_size: int = 321, scale_range: tuple[float, float] = (0.5, 2.0)) -> v2.Compose:
    """Segmentation training on ``(Image, Mask)``: random scale, flip, normalise, pad to ``crop_size``, random crop.

    Padding comes after normalisation, so padded image pixels are 0 = the mean colour; padded mask pixels are 255.
    """
    return v2.Compose(
        [
            RandomScale(scale_range),
            v2.RandomHorizontalFlip(),
            *_segmentation_tail(),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            v2.RandomCrop(crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
            v2.ToPureTensor(),
        ]
    )


def segmentation_eval_transform(pad_size: int = EVAL_PAD_SIZE) -> v2.Compose:
    """Segmentation evaluation on ``(Image, Mask)``: normalise, pad bottom/right to ``pad_size`` (mask with 255)."""
    return v2.Compose(
        [*_segmentation_tail(), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD), PadTo(pad_size), v2.ToPureTensor()]
    )
