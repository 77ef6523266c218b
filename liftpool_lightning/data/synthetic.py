"""The embedded default data as a DataModule: textured shapes on cluttered backgrounds (see ``data.shapes``),
generated from a seed, no download."""

from __future__ import annotations

from typing import Literal, TypedDict

from liftpool_lightning.data.base import BaseDataModule
from liftpool_lightning.data.shapes import ShapesTransform, SyntheticShapes


class _ShapesOptions(TypedDict):
    """The ``SyntheticShapes`` options every split shares."""

    task: Literal["classification", "segmentation"]
    image_size: int
    num_shapes: int
    seed: int


class SyntheticShapesDataModule(BaseDataModule):
    """The embedded default dataset: needs no download, trains in minutes on a CPU (see ``SyntheticShapes``).

    Args:
        task: ``classification`` (``num_shapes`` classes) or ``segmentation`` (``num_shapes + 1`` classes,
            0 = background).
        num_train: training images.
        num_val: validation images (also the test and predict set).
        image_size: side of the square images.
        num_shapes: number of shape classes, 2-8.
        seed: base seed of the generator.
        augment: random horizontal flips on the training set.
        batch_size: images per batch (``BaseDataModule``).
        num_workers: DataLoader worker processes (``BaseDataModule``).
        pin_memory: pinned host memory for the batches (``BaseDataModule``).
    """

    def __init__(
        self,
        task: Literal["classification", "segmentation"] = "classification",
        num_train: int = 4000,
        num_val: int = 1000,
        image_size: int = 32,
        num_shapes: int = 8,
        seed: int = 0,
        augment: bool = True,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = True,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory)
        if task not in ("classification", "segmentation"):
            raise ValueError(f"task must be 'classification' or 'segmentation', got {task!r}")
        for name, value in (("num_train", num_train), ("num_val", num_val)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.task = task
        self.num_classes = num_shapes + (1 if task == "segmentation" else 0)
        self.options = _ShapesOptions(task=task, image_size=image_size, num_shapes=num_shapes, seed=seed)
        self.num_train, self.num_val, self.augment = num_train, num_val, augment
        SyntheticShapes(1, **self.options)  # validate the options now, before any training starts

    def setup(self, stage: str) -> None:
        if stage == "fit":
            train_transform = ShapesTransform(flip=self.augment)
            self.train_dataset = SyntheticShapes(
                self.num_train, split="train", transform=train_transform, **self.options
            )
        self.val_dataset = SyntheticShapes(self.num_val, split="val", transform=ShapesTransform(), **self.options)
        self.test_dataset = self.val_dataset
        self.predict_dataset = self.val_dataset
