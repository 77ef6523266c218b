"""Datasets of the robustness evaluation: clean images corrupted or perturbed on the fly, the official corrupted
and perturbed files, and pairs of shifted views. Items are normalised for the network; randomness comes from a
generator seeded by (seed, set, index), so every item is the same in every run, process and worker."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sized
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from liftpool_lightning.data.imagenet import class_folders
from liftpool_lightning.robustness.corruptions import Benchmark, check_corruption, corrupt
from liftpool_lightning.robustness.perturbations import check_perturbation, perturb

Normalize = Callable[[Tensor], Tensor]


def item_generator(seed: int, name: str, index: int) -> torch.Generator:
    """A generator that depends only on the run's seed, the set's name and the item's index."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()) * 7919 + index)


class CorruptedImages(Dataset):
    """``base[i]`` (an image (3, H, W) in [0, 1] and its label) with a corruption at one severity, normalised."""

    def __init__(
        self, base: Dataset, corruption: str, severity: int, normalize: Normalize, benchmark: Benchmark, seed: int = 0
    ) -> None:
        check_corruption(corruption, severity, benchmark)  # fail now, not in a loader worker
        self.base, self.corruption, self.severity = base, corruption, severity
        self.normalize, self.benchmark, self.seed = normalize, benchmark, seed

    def __len__(self) -> int:
        return len(cast(Sized, self.base))

    def __getitem__(self, index: int) -> tuple[Tensor, Any]:
        image, label = self.base[index]
        generator = item_generator(self.seed, f"{self.corruption}/{self.severity}", index)
        return self.normalize(corrupt(image, self.corruption, self.severity, generator, self.benchmark)), label


class CleanImages(Dataset):
    """``base[i]`` normalised (the clean error that relative CE and the table need)."""

    def __init__(self, base: Dataset, normalize: Normalize) -> None:
        self.base, self.normalize = base, normalize

    def __len__(self) -> int:
        return len(cast(Sized, self.base))

    def __getitem__(self, index: int) -> tuple[Tensor, Any]:
        image, label = self.base[index]
        return self.normalize(image), label


class PerturbedSequences(Dataset):
    """``base[i]`` as a perturbation sequence (T, 3, H, W), normalised, with its label."""

    def __init__(
        self, base: Dataset, perturbation: str, normalize: Normalize, benchmark: Benchmark, seed: int = 0
    ) -> None:
        check_perturbation(perturbation)  # fail now, not in a loader worker
        self.base, self.perturbation, self.normalize = base, perturbation, normalize
        self.benchmark, self.seed = benchmark, seed

    def __len__(self) -> int:
        return len(cast(Sized, self.base))

    def __getitem__(self, index: int) -> tuple[Tensor, Any]:
        image, label = self.base[index]
        generator = item_generator(self.seed, self.perturbation, index)
        return self.normalize(perturb(image, self.perturbation, generator, self.benchmark)), label


class ShiftedPairs(Dataset):
    """Two shifted views of ``base[i]`` and its label (Zhang 2019).

    ``protocol="crop"``: two ``crop_size`` crops at random offsets in [0, image size - crop_size] per axis (ImageNet:
    224 crops of the 256 centre crop, offsets 0-32). ``protocol="circular"``: two wrap-around shifts by random offsets
    in [0, max_shift) per axis (CIFAR-size images, where cropping would remove too much).
    """

    def __init__(
        self, base: Dataset, normalize: Normalize, protocol: str = "circular", max_shift: int = 16,
        crop_size: int = 224, seed: int = 0,
    ) -> None:  # fmt: skip
        if protocol not in ("crop", "circular"):
            raise ValueError(f"shift protocol must be 'crop' or 'circular', got {protocol!r}")
        if max_shift < 1:
            raise ValueError(f"max_shift must be >= 1, got {max_shift}")
        self.base, self.normalize, self.protocol = base, normalize, protocol
        self.max_shift, self.crop_size, self.seed = max_shift, crop_size, seed

    def __len__(self) -> int:
        return len(cast(Sized, self.base))

    def _view(self, image: Tensor, offset: Tensor) -> Tensor:
        dy, dx = (int(v) for v in offset)
        if self.protocol == "circular":
            return image.roll((dy, dx), dims=(-2, -1))
        return image[..., dy : dy + self.crop_size, dx : dx + self.crop_size]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Any]:
        image, label = self.base[index]
        if self.protocol == "crop":
            room = min(image.shape[-2:]) - self.crop_size
            if room < 0:
                raise ValueError(f"crop protocol: image {tuple(image.shape[-2:])} is smaller than {self.crop_size}")
            high = room + 1
        else:
            high = self.max_shift
        offsets = torch.randint(high, (2, 2), generator=item_generator(self.seed, "shift", index))
        return self.normalize(self._view(image, offsets[0])), self.normalize(self._view(image, offsets[1])), label


class CIFARCorruptionFile(Dataset):
    """One severity of an official CIFAR-10-C / CIFAR-100-C file: ``<root>/<corruption>.npy`` (5 x N images, uint8
    (5N, 32, 32, 3), severity 1 first) and ``<root>/labels.npy`` (5N,)."""

    def __init__(self, root: str | Path, corruption: str, severity: int, normalize: Normalize) -> None:
        root = Path(root)
        path, labels_path = root / f"{corruption}.npy", root / "labels.npy"
        for needed in (path, labels_path):
            if not needed.is_file():
                raise FileNotFoundError(
                    f"{needed} does not exist: expected the CIFAR-C layout <root>/<corruption>.npy and"
                    " <root>/labels.npy (download CIFAR-100-C from https://zenodo.org/records/3555552)"
                )
        images = np.load(path, mmap_mode="r")
        labels = np.load(labels_path, mmap_mode="r")
        if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] % 5 or images.dtype != np.uint8:
            raise ValueError(f"{path} holds {images.dtype} {images.shape}; expected uint8 (5 x N, H, W, 3)")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{labels_path} has {labels.shape[0]} labels but {path} has {images.shape[0]} images")
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f"severity must be 1-5, got {severity}")
        count = images.shape[0] // 5
        self.images = images[(severity - 1) * count : severity * count]
        self.labels = labels[(severity - 1) * count : severity * count]
        self.normalize = normalize

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image = torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1).float() / 255
        return self.normalize(image), int(self.labels[index])


class CIFARPerturbationFile(Dataset):
    """An official CIFAR-10-P / CIFAR-100-P file ``<root>/<perturbation>.npy``: uint8 (N, T, 32, 32, 3) sequences of
    the test images in order; ``labels`` are the test labels (the release has no label file)."""

    def __init__(self, root: str | Path, perturbation: str, labels: list[int], normalize: Normalize) -> None:
        path = Path(root) / f"{perturbation}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: expected the CIFAR-P layout <root>/<perturbation>.npy")
        self.sequences = np.load(path, mmap_mode="r")
        if self.sequences.ndim != 5 or self.sequences.shape[-1] != 3:
            raise ValueError(f"{path} holds shape {self.sequences.shape}; expected (N, T, H, W, 3)")
        if len(labels) < len(self.sequences):
            raise ValueError(f"{path} has {len(self.sequences)} sequences but only {len(labels)} labels")
        self.labels, self.normalize = labels, normalize

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        frames = torch.from_numpy(np.array(self.sequences[index])).permute(0, 3, 1, 2).float() / 255
        return self.normalize(frames), self.labels[index]


class Subset(Dataset):
    """The first ``count`` items of a dataset (None: all)."""

    def __init__(self, dataset: Dataset, count: int | None) -> None:
        self.dataset = dataset
        length = len(cast(Sized, dataset))
        self.count = length if count is None else min(count, length)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.dataset[index]


class ImageNetPVideos(Dataset):
    """One perturbation of the official ImageNet-P release: ``<root>/<perturbation>/<class>/<image>.mp4`` videos
    (31 frames, 41 for translate), decoded with PyAV (``pip install liftpool-lightning[video]``) into (T, 3, H, W)
    sequences with the class index of their folder (sorted folder names, as ImageFolder)."""

    def __init__(self, root: str | Path, perturbation: str, normalize: Normalize) -> None:
        folder = Path(root) / perturbation
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} not found: expected ImageNet-P's <root>/<perturbation>/<class>/*.mp4")
        self.classes = class_folders(folder)
        self.samples = [
            (path, label) for label, name in enumerate(self.classes) for path in sorted((folder / name).glob("*.mp4"))
        ]
        if not self.samples:
            raise FileNotFoundError(f"no .mp4 videos under {folder}/<class>/")
        self.normalize = normalize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        try:
            import av
        except ImportError:
            raise ImportError("reading ImageNet-P videos needs PyAV: pip install 'liftpool-lightning[video]'") from None
        path, label = self.samples[index]
        try:
            with av.open(str(path)) as container:
                frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        except (av.error.FFmpegError, OSError) as error:
            raise OSError(f"cannot decode video {path}: {error}") from error
        if not frames:
            raise OSError(f"video {path} has no frames")
        sequence = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
        return self.normalize(sequence), label
