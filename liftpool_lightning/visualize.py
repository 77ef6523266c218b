"""``liftpool visualize``: draw a trained model's sub-bands (and reconstructions, segmentations) for given images,
the same pictures the SubbandVisualizer callback logs during training, without a trainer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import functional as F

from liftpool_lightning.callbacks.subbands import render_pictures
from liftpool_lightning.checkpointing.build import task_from_checkpoint
from liftpool_lightning.data.shapes import SYNTHETIC_MEAN, SYNTHETIC_STD
from liftpool_lightning.data.transforms import CIFAR100_MEAN, CIFAR100_STD, IMAGENET_MEAN, IMAGENET_STD
from liftpool_lightning.models.registry import network_spec
from liftpool_lightning.nn import liftpool_layers

Normalization = Literal["auto", "synthetic", "cifar100", "imagenet", "none"]
_STATS = {
    "synthetic": (SYNTHETIC_MEAN, SYNTHETIC_STD),
    "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
}
_AUTO: dict[str, Normalization] = {"small_vgg": "synthetic", "vgg13_bn_cifar": "cifar100"}


def load_images(paths: Sequence[str | Path], size: int | None, normalization: str) -> torch.Tensor:
    """Images as one normalised (N, 3, H, W) batch; resized to ``size`` x ``size`` (or to the first image's size)."""
    tensors = []
    for path in paths:
        try:
            with Image.open(path) as image:
                tensor = F.pil_to_tensor(image.convert("RGB"))
        except FileNotFoundError as error:
            raise FileNotFoundError(f"image {path} does not exist") from error
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"image {path} cannot be read ({error})") from error
        tensors.append(F.to_dtype(tensor, torch.float32, scale=True))
    height, width = (size, size) if size else tensors[0].shape[1:]
    batch = torch.stack([F.resize(t, [height, width], antialias=True) for t in tensors])
    if normalization != "none":
        mean, std = _STATS[normalization]
        batch = F.normalize(batch, list(mean), list(std))
    return batch


def visualize(
    ckpt_path: str | Path,
    images: Sequence[str | Path],
    output: str | Path = "liftpool-pictures",
    normalization: Normalization = "auto",
    size: int | None = None,
    layers: Sequence[str] | None = None,
    channels: Sequence[int] = (0, 1),
) -> list[Path]:
    """Write the sub-band pictures of a checkpoint for ``images`` to ``output``; returns the PNG paths."""
    if not images:
        raise ValueError("give at least one image")
    if size is not None and size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    task = task_from_checkpoint(ckpt_path)
    network_name = task.hparams["network"]
    if normalization == "auto":
        normalization = _AUTO.get(network_name, "imagenet")
    if size is None and network_spec(network_name).task == "classification":
        size = task.hparams.get("input_size") or network_spec(network_name).input_size
    found = liftpool_layers(task)
    if not found:
        raise ValueError(f"{ckpt_path}: the network has no LiftDownPool layer (pool={task.hparams.get('pool')!r})")
    if layers:
        unknown = [name for name in layers if name not in found]
        if unknown:
            raise ValueError(
                f"layers: {', '.join(unknown)} are not LiftDownPool layers; the model has {', '.join(found)}"
            )
        chosen = {name: found[name] for name in layers}
    else:
        chosen = dict(list(found.items())[:1])
    batch = load_images(images, size, normalization)
    title = f"checkpoint {Path(ckpt_path).name}"
    pictures = render_pictures(task, chosen, batch, None, list(channels), title, strict_channels=True)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key, picture, _ in pictures:
        path = folder / f"{key.replace('/', '_')}.png"
        Image.fromarray(picture).save(path)
        written.append(path)
    return written
