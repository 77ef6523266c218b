"""ImageNet (ILSVRC-2012) from an ImageFolder tree: ``<root>/train/<class>/<image>``, ``<root>/val/<class>/<image>``."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from liftpool_lightning.data.base import BaseDataModule
from liftpool_lightning.data.transforms import imagenet_eval_transform, imagenet_train_transform

LAYOUT = (
    "expected <root>/train/<class>/<image> and <root>/val/<class>/<image> with the same class folders. ImageNet "
    "cannot be downloaded automatically: download ILSVRC-2012 by hand from https://image-net.org and arrange the val "
    "images in class folders like train (e.g. with the common valprep.sh script)"
)


def load_rgb(path: str) -> Image.Image:
    """Open an image file as RGB; a corrupt or truncated file raises ``OSError`` naming the path."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise OSError(f"cannot decode image {path}: {error}") from error


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the sub-folders of ``folder`` (ImageFolder's class order)."""
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def _has_image(folder: Path) -> bool:
    extensions = tuple(IMG_EXTENSIONS)
    return any(name.lower().endswith(extensions) for _, _, names in os.walk(folder, followlinks=True) for name in names)


class ImageNetDataModule(BaseDataModule):
    """ImageNet class folders: ``train`` augmented, ``val`` for validation and test; classes from the folders found.

    ``num_classes`` is 1000 unless ``<root>/train`` exists at construction, then the number of its class folders.

    Args:
        root: folder holding ``train/`` and ``val/`` class-folder trees (no download: see the error messages).
        batch_size: samples per batch and per process.
        num_workers: loader worker processes; 0 loads in the main process.
        pin_memory: pin host memory when training on a GPU.
        skip_bad_samples: replace a sample that fails to load by the next one and count it, instead of stopping
            (see ``BaseDataModule``).
        image_size: side of the square crops (evaluation resizes the short side to ``image_size * 256 / 224``).
    """

    num_classes = 1000
    task = "classification"

    def __init__(
        self,
        root: str,
        batch_size: int = 256,
        num_workers: int = 8,
        pin_memory: bool = True,
        skip_bad_samples: bool = False,
        image_size: int = 224,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, skip_bad_samples)
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.root = root
        self.image_size = image_size
        train = Path(root) / "train"
        if train.is_dir() and (classes := class_folders(train)):
            self.num_classes = len(classes)

    def _check_files(self) -> list[str]:
        """Check the layout; return the class names."""
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"ImageNet root {root} not found: {LAYOUT}")
        found = {}
        for split in ("train", "val"):
            folder = root / split
            if not folder.is_dir():
                raise FileNotFoundError(f"ImageNet {split} folder {folder} not found: {LAYOUT}")
            found[split] = class_folders(folder)
            if not found[split]:
                raise FileNotFoundError(f"no class folders in {folder}: {LAYOUT}")
        if found["train"] != found["val"]:
            only_train = sorted(set(found["train"]) - set(found["val"]))[:5]
            only_val = sorted(set(found["val"]) - set(found["train"]))[:5]
            raise ValueError(
                f"class folders differ between {root / 'train'} ({len(found['train'])}) and {root / 'val'} "
                f"({len(found['val'])}); only in train: {only_train}, only in val: {only_val}: {LAYOUT}"
            )
        for split in ("train", "val"):
            for name in found[split]:
                if not _has_image(root / split / name):
                    raise FileNotFoundError(f"class folder {root / split / name} holds no image files: {LAYOUT}")
        return found["train"]

    def prepare_data(self) -> None:
        self._check_files()

    def setup(self, stage: str) -> None:
        classes = self._check_files()
        if len(classes) != self.num_classes:
            raise ValueError(
                f"{self.root} has {len(classes)} class folders but num_classes is {self.num_classes} (it was read "
                "when the data module was built, and the network is sized by it)"
            )
        root = Path(self.root)
        if stage == "fit":
            transform = imagenet_train_transform(self.image_size)
            self.train_dataset = ImageFolder(str(root / "train"), transform=transform, loader=load_rgb)
        val = ImageFolder(str(root / "val"), imagenet_eval_transform(self.image_size), loader=load_rgb)
        val.names = [Path(path).stem for path, _ in val.samples]  # prediction file names
        self.val_dataset = self.test_dataset = val
