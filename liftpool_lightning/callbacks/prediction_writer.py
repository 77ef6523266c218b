"""Write what ``predict`` returns to files: label masks as palette PNGs, class probabilities as a CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torch import Tensor

from liftpool_lightning.data.palette import voc_palette


class PredictionWriter(BasePredictionWriter):
    """Writes each predicted (H, W) uint8 mask to ``<output_dir>/<name>.png`` with the VOC palette, and each
    (C,) probability vector as a row ``name, class, probability`` of ``<output_dir>/predictions-rank<k>.csv``.

    Names come from the predict dataset's ``names`` attribute when it has one, else the sample index; masks are
    cropped to the dataset's ``original_size(index)`` when it has that method (evaluation pads images).

    Args:
        output_dir: target folder; None: ``<trainer.log_dir>/predictions``.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self._palette = voc_palette()
        self._folder: Path | None = None
        self._masks = 0  # written by this process
        self._rows = 0

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Resolve and create the folder once per run (``trainer.log_dir`` is a collective: every rank calls it)."""
        log_dir = trainer.log_dir or trainer.default_root_dir
        self._folder = Path(self.output_dir or os.path.join(log_dir, "predictions"))
        self._folder.mkdir(parents=True, exist_ok=True)
        self._masks = self._rows = 0

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Say where the predictions went (what rank zero wrote; under DDP every rank writes to the same folder)."""
        if self._folder is None:
            return
        written = []
        if self._masks:
            written.append(f"{self._masks} masks as PNGs")
        if self._rows:
            written.append(f"{self._rows} rows of class probabilities in predictions-rank{trainer.global_rank}.csv")
        what = " and ".join(written) or "nothing (no predictions)"
        ranks = f" (rank 0 of {trainer.world_size}; each rank writes its share)" if trainer.world_size > 1 else ""
        rank_zero_info(f"Predictions written to {self._folder.resolve()}: {what}{ranks}")

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        if not isinstance(prediction, Tensor) or self._folder is None:
            return
        folder = self._folder
        loaders = trainer.predict_dataloaders
        loader = loaders[dataloader_idx] if isinstance(loaders, Sequence) else loaders
        dataset = getattr(loader, "dataset", None)
        names = getattr(dataset, "names", None)
        original_size = getattr(dataset, "original_size", None)  # evaluation pads images; crop the masks back
        if batch_indices is None:
            batch_indices = [batch_idx * len(prediction) + i for i in range(len(prediction))]
        labels = [str(names[i]) if names is not None else f"{i:06d}" for i in batch_indices]
        if prediction.ndim == 3:  # masks
            masks = prediction.cpu().numpy().astype(np.uint8)
            for index, name, mask in zip(batch_indices, labels, masks, strict=True):
                if original_size is not None:
                    height, width = original_size(index)
                    mask = np.ascontiguousarray(mask[:height, :width])
                image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
                image.putpalette(self._palette)
                image.save(folder / f"{name}.png")
                self._masks += 1
        elif prediction.ndim == 2:  # class probabilities
            path = folder / f"predictions-rank{trainer.global_rank}.csv"
            new = not path.exists() or batch_idx == 0
            with path.open("w" if new else "a", newline="") as handle:
                writer = csv.writer(handle)
                if new:
                    writer.writerow(["name", "class", "probability"])
                probabilities, classes = prediction.float().max(dim=1)
                for name, cls, probability in zip(labels, classes.tolist(), probabilities.tolist(), strict=True):
                    writer.writerow([name, cls, f"{probability:.6f}"])
                    self._rows += 1
