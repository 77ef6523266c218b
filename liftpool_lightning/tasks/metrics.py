"""Metrics torchmetrics does not have as such: the error the paper reports (the complement of accuracy) and the
boundary IoU that scores segmentation edges."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy


class MulticlassError(MulticlassAccuracy):
    """Top-k classification error, ``1 - accuracy`` (the paper reports error); DDP-synchronised like accuracy."""

    def compute(self) -> Tensor:
        return 1 - super().compute()


def _contour_band(labels: Tensor, distance: int) -> Tensor:
    """Pixels of a label map (N, H, W) with another label within ``distance`` pixels (chessboard): for each class,
    the part of its region within ``distance`` of its contour. The image border is not a contour."""
    values = labels.unsqueeze(1).float()  # exact for any label below 2**24
    window = 2 * distance + 1
    highest = functional.max_pool2d(values, window, stride=1, padding=distance)
    lowest = -functional.max_pool2d(-values, window, stride=1, padding=distance)
    return ((highest != values) | (lowest != values)).squeeze(1)


class BoundaryIoU(Metric):
    """Boundary IoU (Cheng et al., CVPR 2021): the IoU of the predicted and true masks restricted to the pixels
    within ``distance`` of each mask's contour, per class, averaged over the classes present in either.

    It scores what mean IoU hardly sees: whether edges, thin bars and ring holes come back at the right place
    (mean IoU is dominated by the interiors of large regions). Pixels labelled ``ignore_index`` count for neither.
    Inputs: logits or scores ``(N, C, H, W)`` or labels ``(N, H, W)``, and the target labels ``(N, H, W)``.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    intersection: Tensor  # states (add_state), per class
    union: Tensor

    def __init__(self, num_classes: int, distance: int = 2, ignore_index: int | None = 255, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if distance < 1:
            raise ValueError(f"distance must be >= 1 pixel, got {distance}")
        self.num_classes, self.distance, self.ignore_index = num_classes, distance, ignore_index
        self.add_state("intersection", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("union", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        labels = preds.argmax(1) if preds.dim() == target.dim() + 1 else preds
        if labels.shape != target.shape or target.dim() != 3:
            raise ValueError(f"expected predictions (N, C, H, W) or (N, H, W) and targets (N, H, W), got "
                             f"{tuple(preds.shape)} and {tuple(target.shape)}")  # fmt: skip
        valid = (
            target != self.ignore_index if self.ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
        )
        truth = _contour_band(target, self.distance) & valid
        predicted = _contour_band(labels, self.distance) & valid
        both = truth & predicted & (target == labels)
        classes = self.num_classes

        def count(values: Tensor) -> Tensor:
            values = values[(values >= 0) & (values < classes)]
            return torch.bincount(values, minlength=classes)

        intersection = count(target[both])
        self.intersection += intersection
        self.union += count(target[truth]) + count(labels[predicted]) - intersection

    def compute(self) -> Tensor:
        present = self.union > 0
        if not present.any():
            return torch.tensor(float("nan"))
        return (self.intersection[present].double() / self.union[present]).mean().float()
