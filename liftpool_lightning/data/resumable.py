"""A training loader that can stop mid-epoch and resume bit for bit: what preemption and ``--ckpt_path last`` need.

Three parts, each removing one source of difference between an interrupted-and-resumed run and an uninterrupted one:

- ``ResumableSampler`` orders the samples of epoch ``e`` from ``(seed, e)`` alone (not from the global RNG, which the
  model also draws from), shards them over DDP ranks like ``DistributedSampler`` (it is one, so Lightning does not
  replace it), and can skip the samples already trained on.
- ``SeededSamples`` gives every sample its own augmentation seed, drawn from ``(seed, e)`` per dataset index, and
  runs the dataset's random transforms under it. Augmentations then do not depend on which worker loads a sample,
  on ``num_workers`` or on where the run was interrupted.
- ``ResumableDataLoader`` counts the batches it has handed out and implements ``state_dict``/``load_state_dict``,
  which Lightning saves in every checkpoint and restores on resume (skipping what was done; no warning about
  unreliable mid-epoch resumption).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any, cast

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

_SEED_RANGE = 2**62


class ResumableSampler(DistributedSampler):
    """Shuffled (or ordered) sample indices per epoch, sharded over ``num_replicas`` ranks, each paired with a
    per-sample seed: yields ``(index, sample_seed)``.

    Args:
        dataset: the dataset to sample.
        num_replicas, rank: DDP world size and this process's rank (1 and 0 for one process).
        shuffle: a new order every epoch; otherwise 0..n-1.
        seed: the order and the sample seeds of epoch ``e`` are a function of ``(seed, e)`` only.
        drop_last: drop the tail so every rank gets the same number of samples (else pad by repeating).
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self._resume: tuple[int, int] | None = None  # (epoch, samples of this rank already trained on)

    def resume_at(self, epoch: int, samples: int) -> None:
        """Make the next iteration of ``epoch`` start after its first ``samples`` (other epochs are whole)."""
        self._resume = (epoch, samples)

    def pending_skip(self) -> int:
        """Samples the next iteration will skip (0 unless resuming inside the current epoch)."""
        return self._resume[1] if self._resume is not None and self._resume[0] == self.epoch else 0

    def epoch_plan(self) -> tuple[list[int], list[int]]:
        """This rank's indices for the current epoch and every dataset index's sample seed."""
        n = len(cast(Sized, self.dataset))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        seeds = torch.randint(_SEED_RANGE, (n,), generator=generator).tolist()
        indices = order.tolist()
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            padding = self.total_size - len(indices)
            indices += (indices * math.ceil(padding / max(len(indices), 1)))[:padding]
        return indices[self.rank : self.total_size : self.num_replicas], seeds

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices, seeds = self.epoch_plan()
        skip, self._resume = self.pending_skip(), None
        return iter([(index, seeds[index]) for index in indices[skip:]])


class SeededSamples(Dataset):
    """Wraps a dataset so that ``dataset[(index, seed)]`` loads ``index`` with torch's CPU RNG seeded by ``seed``.

    The global RNG state is saved and restored around the call (``torch.random.fork_rng``), so loading in the main
    process (``num_workers=0``) does not disturb the model's own random draws (dropout). Plain ``int`` keys load
    without reseeding.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(cast(Sized, self.dataset))

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        if isinstance(key, int):
            return self.dataset[key]
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            return self.dataset[index]


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over ``SeededSamples`` with a ``ResumableSampler`` whose position is part of checkpoints.

    ``state_dict()`` holds the epoch and the batches handed out in it; ``load_state_dict`` makes the next
    iteration start after them. Lightning calls both (its ``_Stateful`` protocol) when saving and resuming a fit.
    """

    def __init__(self, dataset: Dataset, sampler: ResumableSampler, **kwargs: Any) -> None:
        if not isinstance(sampler, ResumableSampler):
            raise TypeError(f"sampler must be a ResumableSampler, got {type(sampler).__name__}")
        if not isinstance(dataset, SeededSamples):
            dataset = SeededSamples(dataset)
        # the loader's own generator seeds its workers: iterating never draws from the global RNG (the model's)
        kwargs.setdefault("generator", torch.Generator().manual_seed(sampler.seed))
        super().__init__(dataset, sampler=sampler, **kwargs)
        self._batches_yielded = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        sampler = cast(ResumableSampler, self.sampler)  # the sampler __init__ takes
        self._batches_yielded = sampler.pending_skip() // (self.batch_size or 1)
        for batch in super().__iter__():
            self._batches_yielded += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        sampler = cast(ResumableSampler, self.sampler)  # the sampler __init__ takes
        return {"epoch": sampler.epoch, "batches_yielded": self._batches_yielded, "seed": sampler.seed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        sampler = cast(ResumableSampler, self.sampler)  # the sampler __init__ takes
        if state_dict.get("seed", sampler.seed) != sampler.seed:
            raise ValueError(
                f"the checkpoint's training data order used seed {state_dict['seed']}, this run uses {sampler.seed};"
                " resume with the same seed_everything value"
            )
        sampler.set_epoch(state_dict["epoch"])
        sampler.resume_at(state_dict["epoch"], state_dict["batches_yielded"] * (self.batch_size or 1))
        self._batches_yielded = state_dict["batches_yielded"]
