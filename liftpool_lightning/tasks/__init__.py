"""LightningModules: classification and segmentation with LiftPool networks."""

from liftpool_lightning.tasks.base import BaseTask
from liftpool_lightning.tasks.classification import ClassificationTask
from liftpool_lightning.tasks.metrics import MulticlassError
from liftpool_lightning.tasks.segmentation import SegmentationTask

__all__ = ["BaseTask", "ClassificationTask", "MulticlassError", "SegmentationTask"]
