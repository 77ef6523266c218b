"""On-the-fly corruptions and perturbation sequences: deterministic per seed, stronger with severity, and equal to
the published formulas where we claim so (Pillow for pixelate/JPEG, the HSV definition, the contrast formula)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.colors import hsv_to_rgb as mpl_hsv_to_rgb
from matplotlib.colors import rgb_to_hsv as mpl_rgb_to_hsv
from PIL import Image

from liftpool_lightning.data.shapes import render_scene
from liftpool_lightning.robustness.corruptions import CORRUPTIONS, FIDELITY, PARAMETERS, _disk, corrupt
from liftpool_lightning.robustness.perturbations import PERTURBATIONS, compares_with_first_frame, perturb


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    picture, _ = render_scene(32, [2, 5], torch.Generator().manual_seed(3))
    return torch.floor(picture * 255) / 255  # 8-bit, like a decoded image


def _pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray((image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())


def _tensor(picture: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255).permute(2, 0, 1)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_every_corruption_is_deterministic_in_range_and_documented(image: torch.Tensor, name: str) -> None:
    first = corrupt(image, name, 3, torch.Generator().manual_seed(7), "cifar")
    again = corrupt(image, name, 3, torch.Generator().manual_seed(7), "cifar")
    assert torch.equal(first, again) and first.shape == image.shape
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(torch.floor(first * 255), first * 255)  # 8-bit values like the published files
    assert FIDELITY[name] in ("exact", "algorithm", "approximation")
    assert len(PARAMETERS["cifar"][name]) == len(PARAMETERS["imagenet"][name]) == 5


MONOTONE = (
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur", "defocus_blur", "zoom_blur",
    "brightness", "contrast", "pixelate", "fog",
)  # fmt: skip


@pytest.mark.parametrize("name", MONOTONE)
def test_severity_increases_the_change(image: torch.Tensor, name: str) -> None:
    changes = [
        (corrupt(image, name, s, torch.Generator().manual_seed(1), "cifar") - image).abs().mean() for s in (1, 5)
    ]
    assert changes[1] > changes[0] > 0


def test_noise_draws_depend_on_the_seed(image: torch.Tensor) -> None:
    a = corrupt(image, "gaussian_noise", 2, torch.Generator().manual_seed(1), "cifar")
    b = corrupt(image, "gaussian_noise", 2, torch.Generator().manual_seed(2), "cifar")
    assert not torch.equal(a, b)
    noise = corrupt(torch.full((3, 64, 64), 0.5), "gaussian_noise", 1, torch.Generator().manual_seed(0), "imagenet")
    assert (noise - 0.5).std().item() == pytest.approx(0.08, rel=0.05)  # ImageNet severity 1: sigma 0.08 (no clipping)


def test_contrast_and_brightness_follow_the_formulas(image: torch.Tensor) -> None:
    means = image.mean(dim=(1, 2), keepdim=True)
    expected = torch.floor(((image - means) * 0.15 + means).clamp(0, 1) * 255) / 255  # CIFAR severity 5
    assert torch.allclose(corrupt(image, "contrast", 5, benchmark="cifar"), expected, atol=1 / 255 + 1e-6)
    hsv = mpl_rgb_to_hsv(image.permute(1, 2, 0).numpy())
    hsv[..., 2] = np.clip(hsv[..., 2] + 0.3, 0, 1)
    reference = torch.from_numpy(mpl_hsv_to_rgb(hsv)).permute(2, 0, 1).float()
    assert torch.allclose(corrupt(image, "brightness", 5, benchmark="cifar"), reference, atol=1 / 255 + 1e-5)


def test_pixelate_and_jpeg_are_pillows(image: torch.Tensor) -> None:
    small = _pil(image).resize((20, 20), Image.Resampling.BOX).resize((32, 32), Image.Resampling.BOX)  # c = 0.65
    assert torch.allclose(corrupt(image, "pixelate", 5, benchmark="cifar"), _tensor(small), atol=1e-6)
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="JPEG", quality=40)  # CIFAR severity 5
    assert torch.allclose(corrupt(image, "jpeg_compression", 5, benchmark="cifar"), _tensor(Image.open(buffer)),
                          atol=1e-6)  # fmt: skip


def test_defocus_kernel() -> None:
    kernel = _disk(3, 0.1)  # ImageNet severity 1: radius 3 on a 17 x 17 grid
    assert kernel.shape == (17, 17) and kernel.sum().item() == pytest.approx(1.0)
    assert kernel[8, 8 + 3] > 0 and kernel[8, 8 + 5] == pytest.approx(0, abs=1e-12)
    assert torch.allclose(kernel, kernel.T) and torch.allclose(kernel, kernel.flip(0))


def test_unknown_and_official_only_names(image: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="'frost' \\(only in the official files\\)"):
        corrupt(image, "frost", 1)
    with pytest.raises(ValueError, match="unknown on-the-fly corruption 'rain'"):
        corrupt(image, "rain", 1)
    with pytest.raises(ValueError, match="severity must be 1-5, got 6"):
        corrupt(image, "fog", 6)


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_perturbation_sequences(image: torch.Tensor, name: str) -> None:
    frames = perturb(image, name, torch.Generator().manual_seed(0), "cifar")
    assert frames.shape == ((16 if name == "translate" else 31), 3, 32, 32)
    assert torch.equal(frames, perturb(image, name, torch.Generator().manual_seed(0), "cifar"))
    assert (frames[1:] - frames[:-1]).abs().amax() > 0  # the frames change
    if compares_with_first_frame(name):
        assert torch.equal(frames[0], image)  # noise sequences start clean
    if name == "translate":
        assert torch.allclose(frames[7], image, atol=1 / 255 + 1e-6)  # offset 0 of -7..+8
    if name in ("rotate", "shear", "brightness"):
        assert torch.allclose(frames[15], image, atol=1 / 255 + 1e-6)  # the middle frame is the identity


def test_elastic_without_displacement_is_the_identity_and_glass_blur_keeps_values_local(image: torch.Tensor) -> None:
    from liftpool_lightning.robustness.corruptions import elastic_transform, glass_blur

    assert torch.allclose(elastic_transform(image, (0, 1, 0), torch.Generator()), image, atol=1e-5)
    # glass blur with a vanishing sigma only moves pixel values by at most max_delta: the value histogram stays
    copied = glass_blur(image, (1e-3, 1, 1), torch.Generator().manual_seed(0))
    assert not torch.equal(copied, image)
    assert set(torch.unique(torch.round(copied * 255)).tolist()) <= set(torch.unique(torch.round(image * 255)).tolist())
