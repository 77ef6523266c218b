"""A sample that fails to load during training: one line naming the split, the index and the file, or, when asked
for, skipped (the next sample takes its place) and counted."""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch.utils.data import Dataset, get_worker_info

#: How many following samples a skipped one may try before giving up.
MAX_REPLACEMENT_TRIES = 100


class BadSampleError(ValueError):
    """A sample did not load. The message is one line (``train sample 12: cannot decode image PATH: ...``), also
    when a DataLoader worker re-raises it with the worker's traceback (kept as ``worker_traceback``)."""

    def __init__(self, message: str) -> None:
        self.worker_traceback = message if "Original Traceback" in message else None
        if self.worker_traceback is not None:  # "Caught BadSampleError in DataLoader worker ... BadSampleError: msg"
            last = message.rstrip().splitlines()[-1]
            message = last.split(f"{type(self).__name__}: ", 1)[-1]
        super().__init__(message)


class SampleGuard(Dataset):
    """Wraps a split's dataset: a sample that raises becomes a :class:`BadSampleError` naming the split and index
    (the dataset's own message names the file), or with ``skip`` is replaced by the next sample that loads, with one
    line on stderr, and counted in ``skipped`` (shared with the loader's worker processes: one slot per process).

    Other attributes (``names``, ``original_size``, ...) are the wrapped dataset's.
    """

    def __init__(self, dataset: Dataset, split: str, skip: bool = False, num_workers: int = 0) -> None:
        self.dataset, self.split, self.skip = dataset, split, skip
        self.skipped = torch.zeros(num_workers + 1, dtype=torch.int64).share_memory_()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("dataset", "split", "skip", "skipped"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    @property
    def skipped_count(self) -> int:
        return int(self.skipped.sum())

    def _failure(self, index: int, error: Exception) -> str:
        return f"{self.split} sample {index}: {error}"

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except Exception as error:
            if not self.skip:
                raise BadSampleError(self._failure(index, error)) from error
            self._count(self._failure(index, error))
        for offset in range(1, min(MAX_REPLACEMENT_TRIES, len(self)) + 1):
            other = (index + offset) % len(self)
            try:
                return self.dataset[other]
            except Exception as error:
                self._count(self._failure(other, error))
        tried = min(MAX_REPLACEMENT_TRIES, len(self))
        raise BadSampleError(f"{self.split} sample {index} and the {tried} samples after it fail to load")

    def _count(self, message: str) -> None:
        worker = get_worker_info()
        slot = 0 if worker is None else min(worker.id + 1, len(self.skipped) - 1)
        self.skipped[slot] += 1
        print(f"liftpool: skipped {message} (data.init_args.skip_bad_samples)", file=sys.stderr)
