"""Callbacks that break a run on purpose, for the fault tests (given to the CLI by class path)."""

from __future__ import annotations

import math

from lightning import Callback, LightningModule, Trainer


class PoisonBatch(Callback):
    """Fill the inputs of the batch of global step ``step`` with NaN (as a corrupt sample would)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            batch[0].fill_(math.nan)


class CrashOnRank(Callback):
    """Raise on DDP rank ``rank`` at global step ``step`` (the other ranks carry on into the next collective)."""

    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            raise RuntimeError(f"injected crash on rank {self.rank} at step {self.step}")
