"""LightningDataModules: the embedded synthetic shapes, CIFAR-100, ImageNet folders, PASCAL VOC + SBD."""

from liftpool_lightning.data.base import BaseDataModule
from liftpool_lightning.data.cifar import CIFAR100DataModule
from liftpool_lightning.data.imagenet import ImageNetDataModule
from liftpool_lightning.data.shapes import SyntheticShapes
from liftpool_lightning.data.synthetic import SyntheticShapesDataModule
from liftpool_lightning.data.voc import SegmentationFiles, VOCSegmentationDataModule

__all__ = [
    "BaseDataModule",
    "CIFAR100DataModule",
    "ImageNetDataModule",
    "SegmentationFiles",
    "SyntheticShapes",
    "SyntheticShapesDataModule",
    "VOCSegmentationDataModule",
]
