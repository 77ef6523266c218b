"""The test sets of a robustness evaluation as one DataModule: clean images, each corruption at each severity,
perturbation sequences and shifted pairs, one test dataloader each (``test_sets`` says which is which)."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict, cast

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from liftpool_lightning.data.base import BaseDataModule
from liftpool_lightning.data.cifar import CheckedCIFAR100
from liftpool_lightning.data.imagenet import class_folders, load_rgb
from liftpool_lightning.data.shapes import SYNTHETIC_MEAN, SYNTHETIC_STD, SyntheticShapes
from liftpool_lightning.data.transforms import (
    CIFAR100_MEAN,
    CIFAR100_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    _to_normalised_tensor,
)
from liftpool_lightning.robustness.corruptions import CORRUPTIONS, Benchmark
from liftpool_lightning.robustness.datasets import (
    CIFARCorruptionFile,
    CIFARPerturbationFile,
    CleanImages,
    CorruptedImages,
    ImageNetPVideos,
    PerturbedSequences,
    ShiftedPairs,
    Subset,
)
from liftpool_lightning.robustness.perturbations import PERTURBATIONS

Dataset_ = Literal["synthetic", "cifar100", "imagenet"]


class _SyntheticOptions(TypedDict):
    """The ``SyntheticShapes`` options of the synthetic clean set."""

    num_shapes: int
    image_size: int


class ShardSampler(DistributedSampler):
    """Items rank, rank + world_size, ... of a dataset: every item exactly once over the ranks (no padding)."""

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(cast(Sized, self.dataset)), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(cast(Sized, self.dataset)), self.num_replicas))


@dataclass(frozen=True)
class EvaluationSet:
    """One test dataloader: ``kind`` is clean, corruption, perturbation or shift."""

    kind: Literal["clean", "corruption", "perturbation", "shift"]
    name: str = "clean"
    severity: int = 0


def _all_labels(dataset: Dataset) -> list[int]:
    """Every label of the clean test set, in order (CIFAR-P ships none): torchvision's ``targets`` when the dataset
    has them, else read item by item."""
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return [int(label) for label in targets]
    return [int(dataset[i][1]) for i in range(len(cast(Sized, dataset)))]


class RobustnessDataModule(BaseDataModule):
    """Clean test images of ``dataset`` and what the robustness protocols make of them.

    Args:
        dataset: ``synthetic`` (the embedded shapes), ``cifar100`` (test split) or ``imagenet`` (val; Resize 256,
            CenterCrop 224 as ImageNet-C).
        root: the clean data (CIFAR: folder with ``cifar-100-python/``; ImageNet: folder with ``val/``).
        corruptions: corruption names (default: every on-the-fly one, or every file found under
            ``corruption_root``); [] for none.
        severities: severities to evaluate (1-5).
        corruption_root: the official pre-generated files (CIFAR-100-C: ``<corruption>.npy`` + ``labels.npy``;
            ImageNet-C: ``<corruption>/<severity>/<class>/<image>``); None generates the corruptions on the fly.
        perturbations: perturbation names (default: every on-the-fly one, or every file under
            ``perturbation_root``); [] for none.
        perturbation_root: the official perturbation files (CIFAR-100-P: ``<perturbation>.npy``; ImageNet-P:
            ``<perturbation>/<class>/<image>.mp4``, read with PyAV); None generates the sequences.
        shift_consistency: add the shifted-pairs set.
        shift_protocol: ``crop`` (ImageNet: 224 crops of the 256 centre crop, offsets 0-32) or ``circular`` (CIFAR
            and synthetic: wrap-around shifts); None picks by dataset.
        max_shift: largest circular shift (exclusive) per axis.
        num_images: evaluate the first N test images only (quick looks); None: all.
        seed: seed of the random corruptions, sequences and shifts (per image, so reproducible anywhere).
        num_shapes: option of the synthetic dataset (as trained).
        image_size: option of the synthetic dataset (as trained).
        batch_size: items per batch (``BaseDataModule``; a perturbation sequence counts as one item).
        num_workers: DataLoader worker processes (``BaseDataModule``).
        pin_memory: pinned host memory for the batches (``BaseDataModule``).
    """

    def __init__(
        self,
        dataset: Dataset_ = "synthetic",
        root: str | None = None,
        corruptions: list[str] | None = None,
        severities: list[int] | None = None,
        corruption_root: str | None = None,
        perturbations: list[str] | None = None,
        perturbation_root: str | None = None,
        shift_consistency: bool = True,
        shift_protocol: Literal["crop", "circular"] | None = None,
        max_shift: int = 16,
        num_images: int | None = None,
        seed: int = 0,
        num_shapes: int = 8,
        image_size: int = 32,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory)
        if dataset not in ("synthetic", "cifar100", "imagenet"):
            raise ValueError(f"dataset must be 'synthetic', 'cifar100' or 'imagenet', got {dataset!r}")
        if dataset != "synthetic" and root is None:
            raise ValueError(f"dataset {dataset!r} needs root (the folder of the clean test images)")
        self.severities = list(severities or [1, 2, 3, 4, 5])
        if not self.severities or any(s not in (1, 2, 3, 4, 5) for s in self.severities):
            raise ValueError(f"severities must be values in 1-5, got {severities}")
        if num_images is not None and num_images < 1:
            raise ValueError(f"num_images must be >= 1, got {num_images}")
        self.dataset, self.root, self.seed, self.num_images = dataset, root, seed, num_images
        self.benchmark: Benchmark = "imagenet" if dataset == "imagenet" else "cifar"
        self.corruption_root, self.perturbation_root = corruption_root, perturbation_root
        self.corruptions = self._names(corruptions, corruption_root, CORRUPTIONS, "corruption")
        self.perturbations = self._names(perturbations, perturbation_root, PERTURBATIONS, "perturbation")
        self.shift_consistency = shift_consistency
        self.shift_protocol = shift_protocol or ("crop" if dataset == "imagenet" else "circular")
        self.max_shift = max_shift
        self.synthetic_options = _SyntheticOptions(num_shapes=num_shapes, image_size=image_size)
        self.num_classes = {"synthetic": num_shapes, "cifar100": 100, "imagenet": 1000}[dataset]
        if dataset == "imagenet" and root is not None and Path(root, "val").is_dir():  # root: checked above
            self.num_classes = len(class_folders(Path(root, "val"))) or 1000
        mean, std = {
            "synthetic": (SYNTHETIC_MEAN, SYNTHETIC_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
            "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
        }[dataset]  # fmt: skip
        self.normalize = v2.Normalize(mean, std)
        self.test_sets: list[EvaluationSet] = self._plan()
        self._test_datasets: list[Dataset] = []

    def _names(self, names: list[str] | None, root: str | None, generated: dict, kind: str) -> list[str]:
        if root is not None:
            folder = Path(root)
            if not folder.is_dir():
                raise FileNotFoundError(f"{kind}_root {folder} does not exist")
            found = sorted(p.stem for p in folder.glob("*.npy") if p.stem != "labels") or sorted(
                p.name for p in folder.iterdir() if p.is_dir()
            )
            if names is None:
                return found
            missing = [name for name in names if name not in found]
            if missing:
                raise FileNotFoundError(f"{kind}s {missing} not found under {folder} (found: {found})")
            return list(names)
        if names is None:
            return list(generated)
        unknown = [name for name in names if name not in generated]
        if unknown:
            raise ValueError(
                f"{kind}s {unknown} cannot be generated on the fly (choose from {sorted(generated)}, or read the "
                f"official files with {kind}_root)"
            )
        return list(names)

    def _plan(self) -> list[EvaluationSet]:
        sets = [EvaluationSet("clean")]
        sets += [EvaluationSet("corruption", name, s) for name in self.corruptions for s in self.severities]
        sets += [EvaluationSet("perturbation", name) for name in self.perturbations]
        if self.shift_consistency:
            sets.append(EvaluationSet("shift", "shift"))
        return sets

    def _clean(self, size: int = 224) -> Subset:
        """Clean images (3, H, W) in [0, 1] with their labels."""
        to_float = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.ToPureTensor()]
        if self.dataset == "synthetic":
            # the quickstart's validation images (seed 0, split val); 1000 unless num_images says otherwise
            base: Dataset = SyntheticShapes(self.num_images or 1000, split="val", **self.synthetic_options)
        elif self.dataset == "cifar100":
            base = CheckedCIFAR100(self._root(), train=False, transform=v2.Compose(to_float))
        else:
            folder = Path(self._root()) / "val"
            if not folder.is_dir():
                raise FileNotFoundError(f"ImageNet val folder {folder} not found (<root>/val/<class>/<image>)")
            transform = v2.Compose([v2.Resize(256), v2.CenterCrop(size), *to_float])
            base = ImageFolder(str(folder), transform=transform, loader=load_rgb)
        return Subset(base, self.num_images)

    def _root(self) -> str:
        """``root``, which every dataset but the synthetic one has (checked in ``__init__``)."""
        if self.root is None:
            raise ValueError(f"dataset {self.dataset!r} needs root (the folder of the clean test images)")
        return self.root

    def _official_corruption(self, name: str, severity: int) -> Dataset:
        if self.corruption_root is None:  # called only with corruption_root set
            raise ValueError("the official corruption files need corruption_root")
        root = Path(self.corruption_root)
        if self.dataset == "imagenet":
            folder = root / name / str(severity)
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} not found: expected ImageNet-C's <root>/<corruption>/<severity>/")
            transform = v2.Compose([v2.CenterCrop(224), *_to_normalised_tensor(IMAGENET_MEAN, IMAGENET_STD)])
            images = ImageFolder(str(folder), transform=transform, loader=load_rgb)
            if len(images.classes) != self.num_classes:
                raise ValueError(
                    f"{folder} has {len(images.classes)} class folders, the clean val set {self.num_classes}"
                )
            dataset: Dataset = images
        else:
            dataset = CIFARCorruptionFile(root, name, severity, self.normalize)
        return Subset(dataset, self.num_images)

    def setup(self, stage: str) -> None:
        clean = self._clean()
        labels: list[int] | None = None
        datasets: list[Dataset] = []
        for spec in self.test_sets:
            if spec.kind == "clean":
                datasets.append(CleanImages(clean, self.normalize))
            elif spec.kind == "corruption":
                if self.corruption_root is not None:
                    datasets.append(self._official_corruption(spec.name, spec.severity))
                else:
                    datasets.append(CorruptedImages(clean, spec.name, spec.severity, self.normalize, self.benchmark,
                                                    self.seed))  # fmt: skip
            elif spec.kind == "perturbation":
                if self.perturbation_root is not None and self.dataset == "imagenet":
                    videos = ImageNetPVideos(self.perturbation_root, spec.name, self.normalize)
                    if len(videos.classes) != self.num_classes:
                        raise ValueError(
                            f"{Path(self.perturbation_root, spec.name)} has {len(videos.classes)} class folders, the"
                            f" clean val set {self.num_classes}"
                        )
                    datasets.append(Subset(videos, self.num_images))
                elif self.perturbation_root is not None:
                    labels = labels or _all_labels(clean.dataset)
                    dataset = CIFARPerturbationFile(self.perturbation_root, spec.name, labels, self.normalize)
                    datasets.append(Subset(dataset, self.num_images))
                else:
                    datasets.append(PerturbedSequences(clean, spec.name, self.normalize, self.benchmark, self.seed))
            else:
                base = self._clean(256) if self.shift_protocol == "crop" else clean
                datasets.append(ShiftedPairs(base, self.normalize, self.shift_protocol, self.max_shift, 224, self.seed))
        self._test_datasets = datasets

    def test_dataloader(self) -> list[DataLoader]:  # type: ignore[override]  # one per set (Lightning takes a list)
        """One loader per set. Under DDP each rank takes every world_size-th item, without the padding of
        Lightning's DistributedSampler (which would count repeated images), so the summed metrics are exact."""
        if not self._test_datasets:
            raise RuntimeError("RobustnessDataModule: setup('test') was not called")
        world_size, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        options = {"batch_size": self.batch_size, **self._worker_options()}
        return [DataLoader(d, sampler=ShardSampler(d, world_size, rank), **options) for d in self._test_datasets]

    def train_dataloader(self) -> DataLoader:
        raise RuntimeError("RobustnessDataModule only evaluates: use `liftpool test`")
