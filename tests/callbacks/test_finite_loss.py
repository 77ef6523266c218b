"""StopOnNonFiniteLoss: the bad step named, no checkpoint written after it, and with a check period > 1 (the default
on accelerators) the host reads the device-side record only every period, at checkpoints and at validation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from liftpool_lightning.callbacks import NonFiniteLossError, StopOnNonFiniteLoss


class _NaNAtStep(LightningModule):
    def __init__(self, bad_step: int) -> None:
        super().__init__()
        self.bad_step = bad_step
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).square().mean()
        return loss * math.nan if self.global_step == self.bad_step else loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(64, 4)), batch_size=2)


def _fit(tmp_path: Path, bad_step: int, callback: StopOnNonFiniteLoss) -> tuple[str, list[str]]:
    checkpoints = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=5, save_top_k=-1, filename="{step}")
    trainer = Trainer(default_root_dir=tmp_path, max_steps=20, callbacks=[callback, checkpoints], logger=False,
                      enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    with pytest.raises(NonFiniteLossError) as error:
        trainer.fit(_NaNAtStep(bad_step))
    return str(error.value), sorted(p.name for p in tmp_path.glob("*.ckpt"))


def test_checked_every_step_stops_before_the_bad_step_changes_the_weights(tmp_path: Path) -> None:
    message, files = _fit(tmp_path, bad_step=8, callback=StopOnNonFiniteLoss(check_every_n_steps=1))
    assert "training loss is nan at global step 8 (epoch 0, batch 8); stopped before it changed" in message
    assert f"Last good checkpoint: {tmp_path / 'step=5.ckpt'}" in message
    assert files == ["step=5.ckpt"]


def test_checked_every_four_steps_reads_the_record_then_and_before_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = StopOnNonFiniteLoss(check_every_n_steps=4)
    reads: list[int] = []
    check = StopOnNonFiniteLoss._check

    def counted(self: StopOnNonFiniteLoss, trainer: Trainer, before_step: bool) -> None:
        reads.append(trainer.global_step)
        check(self, trainer, before_step)

    monkeypatch.setattr(StopOnNonFiniteLoss, "_check", counted)
    message, files = _fit(tmp_path, bad_step=8, callback=callback)
    # host reads at steps 3 and 7 (period), at the step-5 checkpoint, and at the step-10 one, which it stops
    assert reads == [3, 5, 7, 10]
    assert "training loss is nan at global step 8, found at step 10 (read every 4 steps" in message
    assert "the weights after it may not be finite" in message
    assert files == ["step=5.ckpt"]  # no checkpoint after the bad step


def test_the_period_defaults_to_every_step_on_cpu_and_to_the_logging_period_elsewhere() -> None:
    trainer = Trainer(log_every_n_steps=25, logger=False)
    callback = StopOnNonFiniteLoss()
    assert callback._period(trainer, torch.device("cpu")) == 1
    assert callback._period(trainer, torch.device("cuda")) == 25
    with pytest.raises(ValueError, match="check_every_n_steps must be >= 1"):
        StopOnNonFiniteLoss(check_every_n_steps=0)
