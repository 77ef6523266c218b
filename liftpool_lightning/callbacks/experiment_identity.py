"""Writes the experiment's identity (seed, model and data options) into every checkpoint, so ``--ckpt_path last``
can tell this experiment's checkpoints from another's in the same folder."""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer

from liftpool_lightning.checkpointing.experiment import CHECKPOINT_KEY


class ExperimentIdentity(Callback):
    """Adds ``identity`` (``checkpointing.experiment.experiment_identity``) to each checkpoint under
    ``CHECKPOINT_KEY``."""

    def __init__(self, identity: dict[str, Any]) -> None:
        self.identity = identity

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.identity
