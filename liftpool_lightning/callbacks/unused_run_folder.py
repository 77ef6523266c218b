"""A run that fails before it produced anything leaves no ``version_N`` folder behind."""

from __future__ import annotations

import shutil
from pathlib import Path

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger

#: What a run writes into its folder before it has done any work: nothing here is a result.
SETUP_FILES = frozenset({"config.yaml", "hparams.yaml"})


def holds_results(folder: Path) -> bool:
    """Whether ``folder`` holds anything but the setup files and empty folders (a checkpoint, metrics, pictures)."""
    for path in folder.rglob("*"):
        setup_file = path.parent == folder and path.name in SETUP_FILES
        if (path.is_file() or path.is_symlink()) and not setup_file:
            return True
    return False


class RemoveUnusedRunFolder(Callback):
    """When a run fails before any result was written (a bad option caught at train start, a data set that does not
    load), remove the logger's new ``version_N`` folder, which would hold only its config and hyperparameters: the
    next run then takes that version again, so paths such as ``version_0/checkpoints/last.ckpt`` stay what the
    configs' comments say. A folder holding a checkpoint, a metrics file or anything else is kept, and so is one
    whose logger holds metrics not yet written. Only the CSV logger's folders are touched (TensorBoard writes its
    event file at once, W&B keeps its own run folders)."""

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if not isinstance(logger, CSVLogger):
                continue
            folder = Path(logger.log_dir)
            if folder.is_dir() and not logger.experiment.metrics and not holds_results(folder):
                shutil.rmtree(folder)
