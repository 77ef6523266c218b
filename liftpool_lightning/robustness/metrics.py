"""Robustness metrics as torchmetrics ``Metric``s: their counts are summed over DDP ranks, so a distributed
evaluation gives the numbers of a single process."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torchmetrics import Metric


def _labels(values: Tensor) -> Tensor:
    """Class indices: the argmax of float logits (classes last), or integer indices as they are."""
    return values.argmax(dim=-1) if values.is_floating_point() else values


class ShiftConsistency(Metric):
    """How often the top-1 class is the same for two shifted versions of each image (Zhang 2019).

    ``update(first, second)`` takes the logits (N, C) or the predicted classes (N,) of the two views.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False
    agree: Tensor  # states (add_state)
    total: Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("agree", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, first: Tensor, second: Tensor) -> None:
        first, second = _labels(first), _labels(second)
        if first.shape != second.shape:
            raise ValueError(f"the two views give predictions of shapes {tuple(first.shape)} and {tuple(second.shape)}")
        self.agree += (first == second).sum()
        self.total += first.numel()

    def compute(self) -> Tensor:
        return self.agree.float() / self.total.clamp(min=1)


class FlipProbability(Metric):
    """How often the top-1 class changes along perturbation sequences (Hendrycks & Dietterich 2019, ImageNet-P).

    ``update(predictions)`` takes (N, T, C) logits or (N, T) classes of N sequences of T frames. With
    ``reference="previous"`` each frame is compared with the frame before it (translate, rotate, blur, ...); with
    ``"first"`` with the sequence's first frame (the noise perturbations, whose frames are independent draws). The
    value is flips / (N (T - 1)): the flip probability that the Flip Rate divides by a baseline's.
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False
    flips: Tensor  # states (add_state)
    pairs: Tensor

    def __init__(self, reference: Literal["previous", "first"] = "previous", **kwargs) -> None:
        super().__init__(**kwargs)
        if reference not in ("previous", "first"):
            raise ValueError(f"reference must be 'previous' or 'first', got {reference!r}")
        self.reference = reference
        self.add_state("flips", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("pairs", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Tensor) -> None:
        labels = _labels(predictions)
        if labels.ndim != 2 or labels.shape[1] < 2:
            raise ValueError(f"expected (sequences, frames >= 2) predictions, got shape {tuple(labels.shape)}")
        reference = labels[:, :-1] if self.reference == "previous" else labels[:, :1]
        self.flips += (labels[:, 1:] != reference).sum()
        self.pairs += labels[:, 1:].numel()

    def compute(self) -> Tensor:
        return self.flips.float() / self.pairs.clamp(min=1)
