"""Tiny ImageNet-style ImageFolder tree: ``<root>/{train,val}/<wnid>/<name>.JPEG`` with random-noise JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("n01440764", "n01443537", "n01484850")


def make_imagenet(
    root: Path, classes: tuple[str, ...] = CLASSES, per_class: tuple[int, int] = (3, 2), seed: int = 0
) -> Path:
    """Write ``per_class`` (train, val) JPEGs of varying size per class under ``root``; return ``root``."""
    rng = np.random.default_rng(seed)
    for split, count in zip(("train", "val"), per_class, strict=True):
        for label, wnid in enumerate(classes):
            folder = Path(root) / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                height, width = int(rng.integers(32, 49)), int(rng.integers(40, 65))
                pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                name = f"{wnid}_{i}" if split == "train" else f"ILSVRC2012_val_{label * count + i + 1:08d}"
                Image.fromarray(pixels).save(folder / f"{name}.JPEG", quality=90)
    return Path(root)
