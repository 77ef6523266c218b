"""CIFAR-100 (torchvision's dataset, files read by our restricted unpickler): train split to train on, test split to
validate and test on."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR100, VisionDataset
from torchvision.datasets.utils import check_integrity

from liftpool_lightning.data.base import BaseDataModule, download_errors
from liftpool_lightning.data.cifar_pickle import CIFARFileError, load_cifar_batch, load_cifar_names
from liftpool_lightning.data.transforms import cifar_eval_transform, cifar_train_transform

CIFAR100_FILES = ("train", "test", "meta")


class CheckedCIFAR100(CIFAR100):
    """torchvision's CIFAR100 that checks the official md5 sums only when ``verify`` is set, else only presence, and
    reads its pickles with :class:`~liftpool_lightning.data.cifar_pickle.CIFARUnpickler` (no code in a file runs).

    Args:
        root: folder holding ``cifar-100-python/``.
        train: the train split, else the test split.
        transform: applied to each PIL image.
        verify: compare the files with torchvision's md5 sums (and download them when ``download``).
        download: download the archive when the files fail the check.

    Raises:
        CIFARFileError: a file is not a CIFAR pickle, or holds a label outside the meta file's classes.
    """

    def __init__(
        self,
        root: str | Path,
        train: bool = True,
        transform: Callable | None = None,
        verify: bool = False,
        download: bool = False,
    ) -> None:
        self.verify = verify or download
        VisionDataset.__init__(self, root, transform=transform)  # CIFAR10.__init__ would pickle.load the files
        self.train = train
        if download:
            self.download()
        if not self._check_integrity():
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
        self._load_meta()
        folder = Path(self.root) / self.base_folder
        self.targets: list[int] = []
        batches = []
        for name, _ in self.train_list if train else self.test_list:
            data, labels = load_cifar_batch(folder / name, "fine_labels")
            wrong = next((label for label in labels if not 0 <= label < len(self.classes)), None)
            if wrong is not None:
                raise CIFARFileError(
                    f"CIFAR file {folder / name} holds label {wrong}, but {folder / self.meta['filename']} names "
                    f"{len(self.classes)} classes (labels 0..{len(self.classes) - 1})"
                )
            batches.append(data)
            self.targets.extend(labels)
        self.data = np.vstack(batches).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))  # HWC

    def _check_integrity(self) -> bool:
        if self.verify:
            return super()._check_integrity()
        return all(os.path.isfile(os.path.join(self.root, self.base_folder, name)) for name in CIFAR100_FILES)

    def _load_meta(self) -> None:
        path = Path(self.root) / self.base_folder / self.meta["filename"]
        if self.verify and not check_integrity(str(path), self.meta["md5"]):
            raise RuntimeError("Dataset metadata file not found or corrupted. You can use download=True to download it")
        self.classes = load_cifar_names(path, self.meta["key"])
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}


class CIFAR100DataModule(BaseDataModule):
    """CIFAR-100 at ``<root>/cifar-100-python/{train,test,meta}``: train split augmented, test split for val and test.

    Args:
        root: folder that holds (or receives) ``cifar-100-python/``.
        download: download the archive (about 160 MB) when missing, and check the official md5 sums.
        batch_size: samples per batch and per process.
        num_workers: loader worker processes; 0 loads in the main process.
        pin_memory: pin host memory when training on a GPU.
        skip_bad_samples: replace a sample that fails to load by the next one and count it, instead of stopping
            (see ``BaseDataModule``).
    """

    num_classes = 100
    task = "classification"

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        batch_size: int = 100,
        num_workers: int = 4,
        pin_memory: bool = True,
        skip_bad_samples: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, skip_bad_samples)
        self.root = root
        self.download = download

    def _check_files(self) -> None:
        folder = Path(self.root) / CheckedCIFAR100.base_folder
        missing = [str(folder / name) for name in CIFAR100_FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"CIFAR-100 not found: missing {', '.join(missing)}. Pass download=True (--data.download true on the "
                f"CLI) to download it into {self.root}, or point root (--data.root) at the folder holding "
                f"{CheckedCIFAR100.base_folder}/."
            )

    def prepare_data(self) -> None:
        if self.download:
            folder = Path(self.root) / CheckedCIFAR100.base_folder
            by_hand = f"Without network: download and extract the archive elsewhere, then copy it so that {folder} "
            with download_errors("CIFAR-100", CheckedCIFAR100.url, self.root, by_hand + "holds train, test and meta"):
                CheckedCIFAR100(self.root, train=True, download=True)
        self._check_files()

    def setup(self, stage: str) -> None:
        self._check_files()
        if stage == "fit":
            self.train_dataset = CheckedCIFAR100(self.root, True, cifar_train_transform(), verify=self.download)
        self.val_dataset = CheckedCIFAR100(self.root, False, cifar_eval_transform(), verify=self.download)
        self.test_dataset = self.val_dataset
