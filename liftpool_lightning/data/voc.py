"""PASCAL VOC 2012 segmentation: train on "trainaug" (VOC train + SBD, minus VOC val), validate on VOC val."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.io import loadmat
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.datasets import SBDataset, VOCSegmentation
from torchvision.datasets.voc import DATASET_YEAR_DICT
from torchvision.transforms.v2 import functional as F

from liftpool_lightning.data.base import BaseDataModule, download_errors
from liftpool_lightning.data.imagenet import load_rgb
from liftpool_lightning.data.transforms import segmentation_eval_transform, segmentation_train_transform

log = logging.getLogger(__name__)

NUM_VOC_CLASSES = 21
LAYOUT = (
    "expected <root>/VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png, "
    "ImageSets/Segmentation/train.txt, ImageSets/Segmentation/val.txt} and, with sbd_root, "
    "<sbd_root>/dataset/{img/<id>.jpg, cls/<id>.mat, train.txt, val.txt}"
)


def load_mask(path: str) -> np.ndarray:
    """Read a label mask (palette PNG, or SBD ``.mat`` with ``GTcls.Segmentation``) as uint8 with labels 0..20, 255."""
    try:
        if path.endswith(".mat"):
            array = np.asarray(loadmat(path)["GTcls"][0]["Segmentation"][0])  # as torchvision's SBDataset reads it
        else:
            with Image.open(path) as image:
                array = np.array(image)
    except (OSError, SyntaxError, ValueError, KeyError, IndexError, TypeError) as error:
        raise OSError(f"cannot read mask {path}: {error!r}") from error
    if array.ndim != 2:
        raise ValueError(f"mask {path} has shape {array.shape}; expected a single-channel (palette) label image")
    valid = ((array >= 0) & (array < NUM_VOC_CLASSES)) | (array == 255)
    if not valid.all():
        raise ValueError(f"mask {path} holds labels {np.unique(array[~valid]).tolist()} outside 0..20 and 255")
    return array.astype(np.uint8)


def _first_file(candidates: list[Path], missing: list[str]) -> str:
    """The first of ``candidates`` that exists; if none does, note them all in ``missing`` and return the first."""
    for path in candidates:
        if path.is_file():
            return str(path)
    missing.append(" or ".join(map(str, candidates)))
    return str(candidates[0])


class SegmentationFiles(Dataset):
    """``(image, mask)`` pairs from file lists; after ``transforms``: float CxHxW image, int64 HxW mask (255 = ignore).

    Args:
        names: image ids, in order (prediction writers name their files by them).
        images: JPEG paths.
        masks: palette-PNG or SBD ``.mat`` paths.
        transforms: joint transform of ``(tv_tensors.Image, tv_tensors.Mask)``.
    """

    def __init__(self, names: list[str], images: list[str], masks: list[str], transforms: Callable) -> None:
        if not len(names) == len(images) == len(masks):
            raise ValueError(f"{len(names)} names, {len(images)} images and {len(masks)} masks")
        self.names, self.images, self.masks, self.transforms = names, images, masks, transforms

    def __len__(self) -> int:
        return len(self.names)

    def original_size(self, index: int) -> tuple[int, int]:
        """(height, width) of image ``index`` before padding (read from the file header only)."""
        with Image.open(self.images[index]) as image:
            return image.height, image.width

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, mask = load_rgb(self.images[index]), load_mask(self.masks[index])
        if (image.height, image.width) != mask.shape:
            raise ValueError(
                f"image {self.images[index]} is {image.height} x {image.width} but mask {self.masks[index]} is "
                f"{mask.shape[0]} x {mask.shape[1]}"
            )
        return self.transforms(tv_tensors.Image(F.pil_to_tensor(image)), tv_tensors.Mask(torch.from_numpy(mask)))


class VOCSegmentationDataModule(BaseDataModule):
    """PASCAL VOC 2012 segmentation (21 classes): trainaug (with SBD) or VOC train; VOC val for val, test, predict.

    trainaug = VOC train + SBD train + SBD val - VOC val (10,582 images); masks from ``SegmentationClass`` where an id
    has one, else from SBD. Evaluation images are padded to 512 x 512 (mask 255 = ignore) so whole images batch.

    Args:
        root: folder holding ``VOCdevkit/VOC2012``.
        sbd_root: folder holding SBD's ``dataset/`` (the extracted ``benchmark_RELEASE``); None: train on VOC train.
        crop_size: side of the random training crops.
        batch_size: samples per batch and per process.
        num_workers: loader worker processes; 0 loads in the main process.
        pin_memory: pin host memory when training on a GPU.
        skip_bad_samples: replace a sample that fails to load by the next one and count it, instead of stopping
            (see ``BaseDataModule``).
        download: download VOC 2012 (2 GB, torchvision's VOCSegmentation) and SBD (1.4 GB, SBDataset) when missing.
    """

    num_classes = NUM_VOC_CLASSES
    task = "segmentation"

    def __init__(
        self,
        root: str = "data",
        sbd_root: str | None = None,
        crop_size: int = 321,
        batch_size: int = 16,
        num_workers: int = 4,
        pin_memory: bool = True,
        skip_bad_samples: bool = False,
        download: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, skip_bad_samples)
        if crop_size < 1:
            raise ValueError(f"crop_size must be >= 1, got {crop_size}")
        self.root, self.sbd_root, self.crop_size, self.download = root, sbd_root, crop_size, download
        self.voc_dir = Path(root) / "VOCdevkit" / "VOC2012"
        self.sbd_dir = None if sbd_root is None else Path(sbd_root) / "dataset"

    def _missing(self) -> tuple[list[Path], list[Path]]:
        voc, sbd = self.voc_dir, self.sbd_dir
        splits = voc / "ImageSets" / "Segmentation"
        voc_paths = [voc / "JPEGImages", voc / "SegmentationClass", splits / "train.txt", splits / "val.txt"]
        sbd_paths = [] if sbd is None else [sbd / "img", sbd / "cls", sbd / "train.txt", sbd / "val.txt"]
        return [p for p in voc_paths if not p.exists()], [p for p in sbd_paths if not p.exists()]

    def _check_files(self) -> None:
        missing_voc, missing_sbd = self._missing()
        if missing_voc or missing_sbd:
            raise FileNotFoundError(
                f"PASCAL VOC segmentation data not found: missing {', '.join(map(str, missing_voc + missing_sbd))}; "
                f"{LAYOUT}. Pass download=True (--data.download true on the CLI) to download VOC 2012 into root "
                "(and SBD into sbd_root)."
            )

    def prepare_data(self) -> None:
        missing_voc, missing_sbd = self._missing()
        by_hand = f"Without network: download and extract the archives elsewhere, then copy them into place ({LAYOUT})"
        if self.download and missing_voc:
            with download_errors("PASCAL VOC 2012", DATASET_YEAR_DICT["2012"]["url"], self.root, by_hand):
                VOCSegmentation(self.root, year="2012", image_set="trainval", download=True)
        if self.download and missing_sbd and self.sbd_dir is not None:  # files are missing only where it is set
            with download_errors("SBD", SBDataset.url, self.sbd_dir, by_hand):
                SBDataset(str(self.sbd_dir), image_set="train", mode="segmentation", download=True)
        self._check_files()

    def _voc_split(self, split: str) -> list[str]:
        images = VOCSegmentation(self.root, year="2012", image_set=split).images  # reads the split file
        return [Path(path).stem for path in images if Path(path).stem]

    def train_names(self) -> list[str]:
        """Training ids: sorted trainaug with ``sbd_root``, else VOC train in file order."""
        if self.sbd_dir is None:
            return self._voc_split("train")
        sbd = [
            Path(p).stem
            for split in ("train", "val")
            for p in SBDataset(str(self.sbd_dir), split, "segmentation").images
        ]
        return sorted((set(self._voc_split("train")) | set(sbd)) - set(self._voc_split("val")) - {""})

    def _files(self, names: list[str], transforms: Callable) -> SegmentationFiles:
        voc, sbd = self.voc_dir, [] if self.sbd_dir is None else [self.sbd_dir]
        images: list[str] = []
        masks: list[str] = []
        missing: list[str] = []
        for name in names:
            images.append(
                _first_file([voc / "JPEGImages" / f"{name}.jpg", *(d / "img" / f"{name}.jpg" for d in sbd)], missing)
            )
            masks.append(
                _first_file(
                    [voc / "SegmentationClass" / f"{name}.png", *(d / "cls" / f"{name}.mat" for d in sbd)], missing
                )
            )
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} listed files not found, e.g. {'; '.join(missing[:3])}; {LAYOUT}. Pass download=True "
                "(--data.download true on the CLI) to download the data."
            )
        return SegmentationFiles(names, images, masks, transforms)

    def setup(self, stage: str) -> None:
        self._check_files()
        if stage == "fit":
            self.train_dataset = self._files(self.train_names(), segmentation_train_transform(self.crop_size))
            if self.sbd_dir is None:
                log.warning(
                    "no sbd_root: training on VOC train (%s images; 1,464 in VOC 2012); the paper trains on trainaug "
                    "(10,582)",
                    f"{len(self.train_dataset):,}",
                )
        self.val_dataset = self._files(self._voc_split("val"), segmentation_eval_transform())
        self.test_dataset = self.predict_dataset = self.val_dataset
