"""Image classification with a LiftPool network: cross-entropy plus the lifting constraints; top-1/top-5 error."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from liftpool_lightning.tasks.base import BaseTask, hyperparameters
from liftpool_lightning.tasks.metrics import MulticlassError


class ClassificationTask(BaseTask):
    """Classification: ``cross_entropy(logits, y, label_smoothing) + lambda_u * c_u + lambda_p * c_p``.

    Logs per split (``train/``, ``val/``, ``test/``): ``loss``, ``task_loss``, ``c_u``, ``c_p``, ``lifting_loss``,
    ``top1_accuracy``, ``top1_error``, ``top5_accuracy``, ``top5_error`` (top-5 when there are more than 5
    classes), and ``train/lr``. ``predict`` returns the class probabilities and writes the top class of each image
    to ``prediction_dir/predictions-rank<k>.csv``.

    It takes every argument of ``BaseTask`` too.

    Args:
        network: registered network name (default ``vgg13_bn_cifar``), a torchvision classification model name,
            ``timm/<name>`` for any timm ConvNet (``pip install 'liftpool-lightning[timm]'``; ``weights`` is then
            timm's pretrained tag) or an nn.Module.
        num_classes: output classes (linked from the datamodule by the CLI).
        label_smoothing: cross-entropy label smoothing in [0, 1).
    """

    def __init__(
        self,
        network: str | nn.Module = "vgg13_bn_cifar",
        num_classes: int = 100,
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
        label_smoothing: float = 0.0,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        prediction_dir: str | None = None,
    ) -> None:
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing
        super().__init__(
            network, num_classes, pool, pool_options, up_pool, strided_convs, weights, backbone_checkpoint,
            input_size, lambda_u, lambda_p, pool_lr_scale, optimizer, lr_scheduler, scheduler_interval,
            prediction_dir,
        )  # fmt: skip

    def configure_losses(self) -> None:
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

    def configure_metrics(self) -> None:
        classes = hyperparameters(self).num_classes
        metrics: dict[str, Any] = {
            "top1_accuracy": MulticlassAccuracy(classes, top_k=1, average="micro"),
            "top1_error": MulticlassError(classes, top_k=1, average="micro"),
        }
        if classes > 5:
            metrics["top5_accuracy"] = MulticlassAccuracy(classes, top_k=5, average="micro")
            metrics["top5_error"] = MulticlassError(classes, top_k=5, average="micro")
        collection = MetricCollection(metrics)
        self.train_metrics = collection.clone(prefix="train/")
        self.val_metrics = collection.clone(prefix="val/")
        self.test_metrics = collection.clone(prefix="test/")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return F.softmax(self.network(images), dim=1)
