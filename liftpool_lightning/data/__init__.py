"""LightningDataModules: the embedded synthetic shapes, CIFAR-100, ImageNet folders, PASCAL VOC + SBD."""

from liftpool_lightning.data.base import BaseDataModule
from liftpool_lightning.data.synthetic import SyntheticShapes, SyntheticShapesDataModule

__all__ = ["BaseDataModule", "SyntheticShapes", "SyntheticShapesDataModule"]
