"""ImageNet-P / CIFAR-P perturbation sequences, generated on the fly in torch (Hendrycks & Dietterich 2019).

A sequence is (T, 3, H, W) in [0, 1], quantised to 8 bits like the published videos. The parameters follow the
authors' make_cifar_p.py (``benchmark="cifar"``) and make_imagenet_p.py (``"imagenet"``); the geometric ones act on
the image itself with reflected borders (the originals transform a larger image and crop its centre). The noise
sequences start with the clean image and their Flip Probability compares every frame with it
(``compares_with_first_frame``); the others compare consecutive frames. Not generated (official files only): motion
blur, snow, tilt, spatter.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as F

from liftpool_lightning.robustness.color import hsv_to_rgb, rgb_to_hsv
from liftpool_lightning.robustness.corruptions import Benchmark, _clipped_zoom, _quantize, gaussian_blur


def compares_with_first_frame(name: str) -> bool:
    """Noise sequences (independent draws; also ImageNet-P's ``*_noise_2``/``_3`` folders) are scored against their
    first, clean frame; the others frame to frame (the authors' rule: 'noise' in the name)."""
    return "noise" in name


def check_perturbation(name: str) -> None:
    """Raise ValueError naming the choices when ``name`` cannot be generated on the fly."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown on-the-fly perturbation {name!r}; choose from {sorted(PERTURBATIONS)}")


FRAMES = 31


def _noise(image: Tensor, draw: Callable[[Tensor], Tensor]) -> Tensor:
    return torch.stack([image] + [draw(image) for _ in range(FRAMES - 1)])


def gaussian_noise(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    sigma = 0.02 if benchmark == "cifar" else 0.03
    return _noise(image, lambda x: x + sigma * torch.randn(x.shape, generator=generator))


def shot_noise(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    rate = 700 if benchmark == "cifar" else 300
    return _noise(image, lambda x: torch.poisson(x * rate, generator=generator) / rate)


def speckle_noise(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    return _noise(image, lambda x: x + x * 0.05 * torch.randn(x.shape, generator=generator))


def brightness(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    step = 0.015 if benchmark == "cifar" else 0.02
    hsv = rgb_to_hsv(image)
    frames = []
    for i in range(FRAMES):
        shifted = hsv.clone()
        shifted[2] = (shifted[2] + (i - 15) * step).clamp(0, 1)
        frames.append(hsv_to_rgb(shifted))
    return torch.stack(frames)


def _affine(image: Tensor, angle: float = 0.0, translate: int = 0, scale: float = 1.0, shear: float = 0.0) -> Tensor:
    pad = image.shape[-1] // 2  # reflected context, so that shifted-in borders hold image content
    padded = torch.nn.functional.pad(image[None], (pad,) * 4, mode="reflect")[0]
    moved = F.affine(
        padded, angle=angle, translate=[translate, 0], scale=scale, shear=[shear, 0.0],
        interpolation=F.InterpolationMode.BILINEAR,
    )  # fmt: skip
    return moved[..., pad:-pad, pad:-pad]


def translate(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    """Horizontal shifts of 1 pixel per frame: -7..+8 (CIFAR, 16 frames) or -20..+20 (ImageNet, 41 frames)."""
    offsets = range(-7, 9) if benchmark == "cifar" else range(-20, 21)
    return torch.stack([_affine(image, translate=offset) for offset in offsets])


def rotate(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    return torch.stack([_affine(image, angle=float(i - 15)) for i in range(FRAMES)])


def scale(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    factors = (
        [(2 * i + 70) / 100 for i in range(FRAMES)]
        if benchmark == "cifar"
        else [(2.5 * i + 40) / 100 for i in range(FRAMES)]
    )
    return torch.stack([_affine(image, scale=factor) for factor in factors])


def shear(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    return torch.stack([_affine(image, shear=float(i - 15)) for i in range(FRAMES)])


def gaussian_blur_sequence(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    start, step = (0.3, 0.015) if benchmark == "cifar" else (0.25, 0.035)
    return torch.stack([gaussian_blur(image, start + step * i, generator) for i in range(FRAMES)])


def zoom_blur(image: Tensor, benchmark: Benchmark, generator: torch.Generator) -> Tensor:
    """Frame i: the mean of the image and its zooms by 1 + 0.004 k, k = 1..i."""
    total, frames = image, [image]
    for k in range(1, FRAMES):
        total = total + _clipped_zoom(image, 1 + 0.004 * k)
        frames.append(total / (k + 1))
    return torch.stack(frames)


PERTURBATIONS: dict[str, Callable[[Tensor, Benchmark, torch.Generator], Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "speckle_noise": speckle_noise,
    "brightness": brightness,
    "translate": translate,
    "rotate": rotate,
    "scale": scale,
    "shear": shear,
    "gaussian_blur": gaussian_blur_sequence,
    "zoom_blur": zoom_blur,
}


def perturb(
    image: Tensor, name: str, generator: torch.Generator | None = None, benchmark: Benchmark = "cifar"
) -> Tensor:
    """The perturbation sequence (T, 3, H, W) of ``image`` (3, H, W) in [0, 1], quantised to 8 bits."""
    check_perturbation(name)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an RGB image (3, H, W), got {tuple(image.shape)}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    return _quantize(PERTURBATIONS[name](image.float(), benchmark, generator))
