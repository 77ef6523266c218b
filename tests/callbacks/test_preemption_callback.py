"""PreemptionCheckpoint in-process: a signal only sets a flag; the stop happens after the step, with a checkpoint."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, TensorDataset

from liftpool_lightning.callbacks import PreemptionCheckpoint


class _Tiny(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _SignalAtBatch(Callback):
    """Sends ``signum`` to this process at the start of batch ``at``; records the trainer's stop flag right after."""

    def __init__(self, signum: int, at: int) -> None:
        self.signum, self.at, self.flag_after_signal, self.batches = signum, at, None, []

    def on_train_batch_start(self, trainer: Trainer, module: LightningModule, batch: object, batch_idx: int) -> None:
        self.batches.append(batch_idx)
        if batch_idx == self.at:
            os.kill(os.getpid(), self.signum)
            self.flag_after_signal = trainer.received_sigterm


def _fit(tmp_path: Path, signum: int) -> tuple[_SignalAtBatch, int]:
    sender = _SignalAtBatch(signum, at=2)
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        callbacks=[PreemptionCheckpoint(), sender],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(TensorDataset(torch.randn(40, 4)), batch_size=4)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SIGTERMException):  # a SystemExit: the console command exits with status 0
        trainer.fit(_Tiny(), loader)
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored after the run
    return sender, trainer.global_step


def test_sigterm_sets_a_flag_and_stops_after_the_step_with_a_checkpoint(tmp_path: Path) -> None:
    sender, steps = _fit(tmp_path, signal.SIGTERM)
    assert sender.flag_after_signal is False  # the handler itself decides nothing (no collective inside it)
    assert sender.batches == [0, 1, 2] and steps == 3  # the signalled step completes, no further step starts
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 3


def test_extra_signal_takes_the_same_path(tmp_path: Path) -> None:
    sender, steps = _fit(tmp_path, signal.SIGUSR1)
    assert sender.batches == [0, 1, 2] and steps == 3
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
