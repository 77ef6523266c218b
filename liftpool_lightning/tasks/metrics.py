"""Metrics the paper reports that torchmetrics has only as their complement."""

from __future__ import annotations

from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy


class MulticlassError(MulticlassAccuracy):
    """Top-k classification error, ``1 - accuracy`` (the paper reports error); DDP-synchronised like accuracy."""

    def compute(self) -> Tensor:
        return 1 - super().compute()
