"""One small interface to log pictures and tables to whatever loggers a run has (anomalib-style, no isinstance
chains elsewhere): W&B gets images and tables, TensorBoard images and text, every run also gets PNG/CSV files
under its log dir (so a CSV logger, or none, still leaves the pictures on disk)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lightning import Trainer
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from PIL import Image

log = logging.getLogger(__name__)


def _file_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


def output_dir(trainer: Trainer) -> Path:
    """``<log dir>/images`` of the run (the W&B run's own folder with W&B, the version dir with CSV/TensorBoard).

    Never ``trainer.log_dir``: that broadcasts across ranks, and drawing happens on rank 0 alone (it would hang).
    """
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            return Path(logger.experiment.dir) / "images"
    for logger in trainer.loggers:
        log_dir = getattr(logger, "log_dir", None)
        if log_dir:
            return Path(log_dir) / "images"
    return Path(trainer.default_root_dir) / "images"


def _log_image_to(logger: Logger, key: str, image: np.ndarray, step: int, caption: str) -> None:
    if isinstance(logger, WandbLogger):
        logger.log_image(key=key, images=[image], caption=[caption], step=step)
    elif isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(key, image, global_step=step, dataformats="HWC")


def log_image(trainer: Trainer, key: str, image: np.ndarray, step: int, caption: str = "", tag: str = "") -> Path:
    """Log an RGB uint8 (H, W, 3) image to every logger that takes images, and save it as a PNG
    ``<key>[_<tag>]_step<step>.png`` under the run's ``images/``; returns its path."""
    folder = output_dir(trainer)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_file_name(key)}{'_' + tag if tag else ''}_step{step:07d}.png"
    Image.fromarray(image).save(path)
    for logger in trainer.loggers:
        try:
            _log_image_to(logger, key, image, step, caption)
        except Exception as error:  # a logger failing must not stop training; the PNG is on disk
            log.warning("could not log image %s to %s: %s", key, type(logger).__name__, error)
    return path


def log_table(trainer: Trainer, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> Path:
    """Log a table (W&B table, TensorBoard text) and append it to ``<images dir>/<key>.csv``; returns the CSV path."""
    folder = output_dir(trainer)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_file_name(key)}.csv"
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["step", *columns])
        writer.writerows([step, *row] for row in rows)
    for logger in trainer.loggers:
        try:
            if isinstance(logger, WandbLogger):
                logger.log_table(key=key, columns=list(columns), data=[list(r) for r in rows], step=step)
            elif isinstance(logger, TensorBoardLogger):
                text = " | ".join(columns) + "\n" + "\n".join(" | ".join(map(str, r)) for r in rows)
                logger.experiment.add_text(key, text, global_step=step)
        except Exception as error:
            log.warning("could not log table %s to %s: %s", key, type(logger).__name__, error)
    return path
