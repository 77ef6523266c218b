"""Scan a data module before training: every sample of every split loads (images decode, masks hold valid labels,
class labels are in range), in parallel, reporting every problem at once (``liftpool check-data``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from liftpool_lightning.data.base import BaseDataModule

#: The splits scanned, in order, with the ``setup`` stage that builds each.
SPLITS = (("train", "fit"), ("val", "fit"), ("test", "test"), ("predict", "predict"))


@dataclass(frozen=True)
class SampleProblem:
    """One sample that does not load: its split, index and the loader's message (which names the file)."""

    split: str
    index: int | None
    message: str

    def __str__(self) -> str:
        where = self.split if self.index is None else f"{self.split} sample {self.index}"
        return f"{where}: {self.message}"


@dataclass
class DataCheckReport:
    """Samples scanned per split and every problem found."""

    checked: dict[str, int] = field(default_factory=dict)
    problems: list[SampleProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Guarded(Dataset):
    """Loads one sample and returns ``(index, None)``, or ``(index, message)`` when it fails or has a class label
    outside ``0..num_classes-1``."""

    def __init__(self, dataset: Dataset, num_classes: int, task: str) -> None:
        self.dataset, self.num_classes, self.task = dataset, num_classes, task

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[int, str | None]:
        try:
            sample = self.dataset[index]
        except Exception as error:  # every failure is reported, none ends the scan
            return index, f"{type(error).__name__}: {error}"
        if self.task == "classification" and isinstance(sample, (tuple, list)) and len(sample) > 1:
            label = sample[1]
            label = int(label.item()) if isinstance(label, torch.Tensor) and label.numel() == 1 else label
            if isinstance(label, int) and not 0 <= label < self.num_classes:
                return index, f"class label {label} outside 0..{self.num_classes - 1}"
        return index, None


def _as_list(batch: list[tuple[int, str | None]]) -> list[tuple[int, str | None]]:
    return batch  # the collate function: keep the (index, message) pairs as they are


def _datasets(datamodule: BaseDataModule, report: DataCheckReport) -> Iterator[tuple[str, Dataset]]:
    """Each split dataset the data module builds, once: a split that ``setup`` makes the same object as an earlier
    split (e.g. test = val) is not scanned again. A ``setup`` failure is reported once, naming every split it stopped
    (several splits share a stage, and a missing folder fails them all alike)."""
    failures: dict[str, list[str]] = {}  # message -> the splits it stopped
    for split, stage in SPLITS:
        try:
            datamodule.setup(stage)
        except Exception as error:  # a layout problem: reported, the other splits still scanned
            failures.setdefault(f"{type(error).__name__}: {error}", []).append(split)
            continue
        dataset = getattr(datamodule, f"{split}_dataset", None)
        earlier = [name for name, _ in SPLITS[: [name for name, _ in SPLITS].index(split)]]
        if dataset is None or any(dataset is getattr(datamodule, f"{name}_dataset", None) for name in earlier):
            continue
        yield split, dataset
    for message, splits in failures.items():
        report.problems.append(SampleProblem(f"{', '.join(splits)} (setup)", None, message))


def check_data(datamodule: BaseDataModule, workers: int = 0, progress: bool = True) -> DataCheckReport:
    """Load every sample of every split of ``datamodule`` with ``workers`` processes (0: in this process) and
    collect every problem, with a progress bar per split when ``progress``."""
    from tqdm.auto import tqdm

    report = DataCheckReport()
    try:
        datamodule.prepare_data()
    except Exception as error:
        report.problems.append(SampleProblem("prepare_data", None, f"{type(error).__name__}: {error}"))
        return report
    for split, dataset in _datasets(datamodule, report):
        guarded = _Guarded(dataset, datamodule.num_classes, datamodule.task)
        options: dict[str, Any] = {"num_workers": workers, "batch_size": 16, "collate_fn": _as_list}
        loader = DataLoader(guarded, **options)
        checked = 0
        with tqdm(total=len(guarded), desc=f"check-data {split}", unit="sample", disable=not progress) as bar:
            for batch in loader:
                for index, message in batch:
                    if message is not None:
                        report.problems.append(SampleProblem(split, index, message))
                checked += len(batch)
                bar.update(len(batch))
        report.checked[split] = checked
    return report
