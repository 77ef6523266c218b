"""The part every DataModule shares: loaders built from datasets that ``setup`` creates, typed options."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.error import URLError

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from liftpool_lightning.data.resumable import ResumableDataLoader, ResumableSampler
from liftpool_lightning.data.sample_guard import SampleGuard


class DownloadError(ConnectionError):
    """A data set could not be downloaded; the message names what, from where, into which folder, and how to do
    without the network."""


@contextmanager
def download_errors(what: str, url: str, root: str | os.PathLike, by_hand: str) -> Iterator[None]:
    """Turn a network failure inside the block into one :class:`DownloadError` naming ``what``, ``url``, ``root``
    and ``by_hand`` (how to put the files there without a network)."""
    try:
        yield
    except (URLError, ConnectionError, TimeoutError) as error:
        reason = getattr(error, "reason", None) or error
        raise DownloadError(f"could not download {what} from {url} into {root}: {reason}. {by_hand}") from error


class BaseDataModule(LightningDataModule):
    """Builds the train/val/test/predict loaders from ``self.train_dataset`` ... that a subclass's ``setup`` sets.

    Subclasses set ``num_classes`` (read by the CLI to size the network) and ``task`` (``classification`` or
    ``segmentation``), check their files in ``prepare_data``/``setup`` with errors that name the path, and may set
    ``predict_dataset`` (default: the test dataset).

    Args:
        batch_size: samples per batch and per process (under DDP each rank loads this many).
        num_workers: loader worker processes; 0 loads in the main process.
        pin_memory: pin host memory when training on a GPU.
        skip_bad_samples: a sample that fails to load (a truncated image, a mask with invalid labels) is replaced by
            the next one that loads, with one line naming it, and counted (the total is printed when the run ends);
            False (default): the run stops with one line naming the file, after saving a checkpoint of the
            finished work (``DataErrorCheckpoint``). ``liftpool check-data`` finds such files before training.

    Every loader's dataset is wrapped in a ``SampleGuard`` (see ``data.sample_guard``).
    """

    num_classes: int = 0
    task: str = "classification"

    def __init__(
        self, batch_size: int = 32, num_workers: int = 4, pin_memory: bool = True, skip_bad_samples: bool = False
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.skip_bad_samples = skip_bad_samples
        self._guards: dict[str, SampleGuard] = {}
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None
        self.predict_dataset: Dataset | None = None

    def _require(self, dataset: Dataset | None, split: str) -> Dataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: no {split} dataset; was setup() called for this stage?")
        return dataset

    def _guard(self, dataset: Dataset | None, split: str) -> SampleGuard:
        """``dataset`` in a ``SampleGuard`` (the same guard while the dataset is the same object)."""
        dataset = self._require(dataset, split)
        guard = self._guards.get(split)
        if guard is None or guard.dataset is not dataset:
            guard = self._guards[split] = SampleGuard(dataset, split, self.skip_bad_samples, self.num_workers)
        return guard

    @property
    def skipped_samples(self) -> int:
        """Samples skipped so far (``skip_bad_samples``), over every split and loader process."""
        return sum(guard.skipped_count for guard in self._guards.values())

    def teardown(self, stage: str) -> None:
        if self.skipped_samples:
            print(f"liftpool: skipped {self.skipped_samples} bad sample(s) in this run (data.init_args."
                  "skip_bad_samples); liftpool check-data lists them all", file=sys.stderr)  # fmt: skip

    def _loader(self, dataset: Dataset | None, split: str) -> DataLoader:
        return DataLoader(self._guard(dataset, split), batch_size=self.batch_size, **self._worker_options())

    def _worker_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory and torch.cuda.is_available(),
        }
        if self.num_workers > 0:
            options["persistent_workers"] = True
        return options

    def train_dataloader(self) -> DataLoader:
        """Shuffled, sharded over DDP ranks and resumable mid-epoch (see ``data.resumable``): the order and the
        random augmentations of epoch ``e`` follow from ``(seed_everything's seed, e)`` only."""
        dataset = self._guard(self.train_dataset, "train")
        trainer = self.trainer
        world_size, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        drop_last = len(dataset) // world_size > self.batch_size
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))  # set by seed_everything (the config's seed_everything)
        sampler = ResumableSampler(dataset, world_size, rank, shuffle=True, seed=seed, drop_last=drop_last)
        return ResumableDataLoader(dataset, sampler, batch_size=self.batch_size, drop_last=drop_last,
                                   **self._worker_options())  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, "val")

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_dataset, "test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_dataset or self.test_dataset, "predict")
