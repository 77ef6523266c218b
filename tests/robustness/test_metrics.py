"""Robustness metrics against hand-computed values, an exactly shift-invariant model, and DDP (2 gloo processes)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from liftpool_lightning.data.shapes import SyntheticShapes
from liftpool_lightning.robustness.datasets import ShiftedPairs
from liftpool_lightning.robustness.metrics import FlipProbability, ShiftConsistency


def test_shift_consistency_by_hand() -> None:
    metric = ShiftConsistency()
    metric.update(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 0, 3]))
    metric.update(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([[0.3, 0.7], [0.1, 0.9]]))  # logits
    assert metric.compute().item() == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="predictions of shapes"):
        metric.update(torch.tensor([0, 1]), torch.tensor([0]))


def test_flip_probability_previous_and_first_frame_references() -> None:
    labels = torch.tensor([[0, 0, 1, 1, 0], [2, 2, 2, 2, 2]])
    previous = FlipProbability("previous")
    previous.update(labels)
    assert previous.compute().item() == pytest.approx(2 / 8)  # 0->1 and 1->0 in the first sequence
    first = FlipProbability("first")
    first.update(labels)
    assert first.compute().item() == pytest.approx(2 / 8)  # frames 2 and 3 differ from frame 0
    first.update(torch.tensor([[1, 0, 0, 0, 0]]))
    assert first.compute().item() == pytest.approx(6 / 12)
    with pytest.raises(ValueError, match="reference must be"):
        FlipProbability("next")
    with pytest.raises(ValueError, match="frames >= 2"):
        previous.update(torch.tensor([[1]]))


class GlobalAverage(torch.nn.Module):
    """Class = which channel has the largest spatial mean: invariant to any circular shift."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


def test_a_shift_invariant_model_is_fully_consistent_and_a_position_sensitive_one_is_not() -> None:
    pairs = ShiftedPairs(SyntheticShapes(32, split="val"), lambda x: x, "circular", max_shift=16)
    invariant, corner = ShiftConsistency(), ShiftConsistency()
    for i in range(len(pairs)):
        first, second, _ = pairs[i]
        a, b = first[None], second[None]
        invariant.update(GlobalAverage()(a), GlobalAverage()(b))
        corner.update(a[..., :4, :4].mean(dim=(-2, -1)), b[..., :4, :4].mean(dim=(-2, -1)))  # top-left patch only
    assert invariant.compute().item() == 1.0
    assert corner.compute().item() < 0.9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, labels: torch.Tensor, sequences: torch.Tensor, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        shift, flips = ShiftConsistency(), FlipProbability()
        shift.update(labels[0][rank::2], labels[1][rank::2])  # each rank sees half, unequal counts
        flips.update(sequences[rank::2])
        values = (shift.compute().item(), flips.compute().item())
        if rank == 0:
            queue.put(values)
    finally:
        dist.destroy_process_group()


def test_ddp_gives_the_numbers_of_one_process() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(3, (2, 11), generator=generator)
    sequences = torch.randint(3, (7, 6), generator=generator)
    single_shift, single_flips = ShiftConsistency(), FlipProbability()
    single_shift.update(labels[0], labels[1])
    single_flips.update(sequences)
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_ddp_worker, args=(_free_port(), labels, sequences, queue), nprocs=2)
    assert queue.get() == pytest.approx((single_shift.compute().item(), single_flips.compute().item()))
