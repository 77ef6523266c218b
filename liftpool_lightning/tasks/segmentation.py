"""Semantic segmentation with a LiftPool network (SegNet, DeepLabV3+): cross-entropy with ignore 255, mIoU."""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from liftpool_lightning.tasks.base import BaseTask, hyperparameters
from liftpool_lightning.tasks.metrics import BoundaryIoU

IGNORE_INDEX = 255
BOUNDARY_DISTANCE = 2  # pixels: the band of boundary IoU around each contour


class SegmentationTask(BaseTask):
    """Segmentation: ``cross_entropy(logits, mask, ignore_index=255) + lambda_u * c_u + lambda_p * c_p``.

    Logs per split ``loss``, ``task_loss``, ``c_u``, ``c_p``, ``lifting_loss``, ``miou`` (mean intersection over
    union over ``num_classes``, torchmetrics' JaccardIndex, synchronised across DDP ranks), ``pixel_accuracy`` and
    ``boundary_iou`` (:class:`~liftpool_lightning.tasks.metrics.BoundaryIoU` within 2 pixels of the contours: edges).
    ``predict`` writes each predicted mask as a palette PNG (VOC colours) to ``prediction_dir`` (default: the run's
    log dir + ``/predictions``), named after the dataset's image ids.

    It takes every argument of ``BaseTask`` too.

    Args:
        network: ``segnet_vgg13_bn`` (default), ``small_segnet`` or ``deeplabv3plus_resnet50``, or an nn.Module.
        num_classes: classes including background (21 for PASCAL VOC; linked from the datamodule by the CLI).
    """

    def __init__(
        self,
        network: str | nn.Module = "segnet_vgg13_bn",
        num_classes: int = 21,
        pool: str | None = "lift",
        pool_options: dict[str, Any] | None = None,
        up_pool: str | None = None,
        strided_convs: bool | None = None,
        weights: str | None = None,
        backbone_checkpoint: str | None = None,
        input_size: int | None = None,
        lambda_u: float = 0.01,
        lambda_p: float = 0.1,
        pool_lr_scale: float = 1.0,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        prediction_dir: str | None = None,
    ) -> None:
        super().__init__(
            network, num_classes, pool, pool_options, up_pool, strided_convs, weights, backbone_checkpoint,
            input_size, lambda_u, lambda_p, pool_lr_scale, optimizer, lr_scheduler, scheduler_interval,
            prediction_dir,
        )  # fmt: skip

    def configure_losses(self) -> None:
        self.criterion = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)

    def configure_metrics(self) -> None:
        classes = hyperparameters(self).num_classes
        collection = MetricCollection(
            {
                "miou": MulticlassJaccardIndex(classes, average="macro", ignore_index=IGNORE_INDEX),
                "pixel_accuracy": MulticlassAccuracy(classes, average="micro", ignore_index=IGNORE_INDEX),
                "boundary_iou": BoundaryIoU(classes, distance=BOUNDARY_DISTANCE, ignore_index=IGNORE_INDEX),
            }
        )
        self.train_metrics = collection.clone(prefix="train/")
        self.val_metrics = collection.clone(prefix="val/")
        self.test_metrics = collection.clone(prefix="test/")

    def metric_inputs(self, logits: Tensor) -> Tensor:
        return logits.argmax(dim=1)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.network(images).argmax(dim=1).to(torch.uint8)
