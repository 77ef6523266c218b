"""The resumable training loader: order and augmentation from (seed, epoch, index) only; exact mid-epoch resume."""

from __future__ import annotations

import pytest
import torch

from liftpool_lightning.data.resumable import ResumableDataLoader, ResumableSampler, SeededSamples
from liftpool_lightning.data.shapes import ShapesTransform, SyntheticShapes


def dataset(n: int = 40) -> SyntheticShapes:
    return SyntheticShapes(n, split="train", transform=ShapesTransform(flip=True))


def test_order_depends_on_seed_and_epoch_only() -> None:
    a, b = ResumableSampler(dataset(), seed=3), ResumableSampler(dataset(), seed=3)
    torch.manual_seed(0)
    first = list(a)
    torch.manual_seed(1)  # the global RNG plays no part
    assert list(b) == first
    assert sorted(index for index, _ in first) == list(range(40))
    a.set_epoch(1)
    assert [i for i, _ in a] != [i for i, _ in first]
    assert [i for i, _ in ResumableSampler(dataset(), seed=4)] != [i for i, _ in first]


def test_ranks_partition_the_epoch_and_seeds_follow_the_index() -> None:
    whole = dict(ResumableSampler(dataset(), seed=0))
    shards = [list(ResumableSampler(dataset(), num_replicas=4, rank=r, seed=0)) for r in range(4)]
    assert sorted(i for shard in shards for i, _ in shard) == list(range(40))
    assert all(seed == whole[index] for shard in shards for index, seed in shard)  # same augmentation per sample


def test_padding_and_drop_last_give_equal_shards() -> None:
    padded = [list(ResumableSampler(dataset(10), num_replicas=4, rank=r)) for r in range(4)]
    dropped = [list(ResumableSampler(dataset(10), num_replicas=4, rank=r, drop_last=True)) for r in range(4)]
    assert [len(s) for s in padded] == [3] * 4 and [len(s) for s in dropped] == [2] * 4


def test_seeded_samples_repeat_and_leave_the_global_rng_alone() -> None:
    samples = SeededSamples(dataset())
    flips = {bool(torch.equal(samples[(0, seed)][0], samples[0][0])) for seed in range(20)}
    assert flips == {True, False}  # the seed decides the random flip
    state = torch.get_rng_state()
    first = samples[(5, 123)][0]
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(samples[(5, 123)][0], first)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_mid_epoch_yields_exactly_the_remaining_batches(num_workers: int) -> None:
    def loader() -> ResumableDataLoader:
        sampler = ResumableSampler(dataset(), seed=7)
        sampler.set_epoch(2)
        return ResumableDataLoader(dataset(), sampler, batch_size=8, num_workers=num_workers)

    uninterrupted = list(loader())
    first = loader()
    iterator = iter(first)
    for _ in range(2):
        next(iterator)
    state = first.state_dict()
    assert state == {"epoch": 2, "batches_yielded": 2, "seed": 7}

    resumed = loader()
    resumed.load_state_dict(state)
    remaining = list(resumed)
    assert len(remaining) == 3
    for (image, label), (expected_image, expected_label) in zip(remaining, uninterrupted[2:], strict=True):
        assert torch.equal(image, expected_image) and torch.equal(label, expected_label)
    assert resumed.state_dict()["batches_yielded"] == 5
    assert len(list(resumed)) == 5  # the skip applied once; the next pass is a whole epoch


def test_the_skip_belongs_to_its_epoch_and_the_seed_must_match() -> None:
    sampler = ResumableSampler(dataset(), seed=7)
    loader = ResumableDataLoader(dataset(), sampler, batch_size=8)
    loader.load_state_dict({"epoch": 0, "batches_yielded": 5, "seed": 7})  # saved at the end of epoch 0
    sampler.set_epoch(1)  # Lightning starts the next epoch
    assert len(list(loader)) == 5
    with pytest.raises(ValueError, match="used seed 3, this run uses 7"):
        loader.load_state_dict({"epoch": 0, "batches_yielded": 1, "seed": 3})
