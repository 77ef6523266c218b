"""Stop training at the first NaN or infinite loss, naming the step, without a host synchronisation per step on GPUs."""

from __future__ import annotations

from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch import Tensor

from liftpool_lightning.callbacks.trainer_attributes import runtime_attributes


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNonFiniteLoss(Callback):
    """Raise ``NonFiniteLossError`` when the training loss is NaN/inf, naming its step and the last good checkpoint.

    Reading a GPU loss on the host stalls the device's queue, so the check is split in two:
    - every step, on the device: the first non-finite loss and its step are recorded (no synchronisation);
    - every ``check_every_n_steps`` steps, and always before a checkpoint is written or validation runs, the host
      reads that record (under DDP agreed across ranks: every rank stops at the same step).
    With ``check_every_n_steps=1`` (the default on CPU, where reading a value costs nothing) the error comes before
    the bad step's backward pass and optimiser step, so the weights are those of the last finite step. With a larger
    period (default on accelerators: ``trainer.log_every_n_steps``, when Lightning reads the logged values anyway)
    up to that many steps may have run on non-finite values; the message says so. Either way no checkpoint is written
    after the bad step, so the last saved one (named in the message) stays the last good one.

    Args:
        check_every_n_steps: steps between host reads of the record; None picks as above.
    """

    def __init__(self, check_every_n_steps: int | None = None) -> None:
        if check_every_n_steps is not None and check_every_n_steps < 1:
            raise ValueError(f"check_every_n_steps must be >= 1 or None, got {check_every_n_steps}")
        self.check_every_n_steps = check_every_n_steps
        self._first_bad_step: Tensor | None = None  # on the device; -1 while every loss was finite
        self._first_bad_value: Tensor | None = None

    def _period(self, trainer: Trainer, device: torch.device) -> int:
        if self.check_every_n_steps is not None:
            return self.check_every_n_steps
        return 1 if device.type == "cpu" else max(1, runtime_attributes(trainer).log_every_n_steps)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._first_bad_step = torch.full((), -1, dtype=torch.long, device=pl_module.device)
        self._first_bad_value = torch.zeros((), device=pl_module.device)

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: Tensor) -> None:
        if self._first_bad_step is None:  # e.g. a manual call outside fit
            self.on_train_start(trainer, pl_module)
        assert self._first_bad_step is not None and self._first_bad_value is not None
        new = torch.logical_and(~torch.isfinite(loss.detach()).all(), self._first_bad_step < 0)
        self._first_bad_step = torch.where(new, trainer.global_step, self._first_bad_step)
        self._first_bad_value = torch.where(new, loss.detach().float(), self._first_bad_value)
        period = self._period(trainer, loss.device)
        if period == 1 or (trainer.global_step + 1) % period == 0:
            self._check(trainer, before_step=period == 1)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._check(trainer, before_step=False)  # raising here writes no checkpoint of non-finite weights

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer, before_step=False)  # nothing recorded outside fit

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer, before_step=False)

    def _check(self, trainer: Trainer, before_step: bool) -> None:
        if self._first_bad_step is None or self._first_bad_value is None:
            return
        bad_step = int(self._first_bad_step)  # the host read (a synchronisation on a GPU)
        failed = bad_step >= 0
        if trainer.world_size > 1:
            failed = trainer.strategy.reduce_boolean_decision(failed, all=False)
        if not failed:
            return
        callback = trainer.checkpoint_callback
        saved = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
        if bad_step < 0:
            where = "not finite on another process"
        else:
            value = float(self._first_bad_value)
            where = f"{value}" if trainer.world_size == 1 else f"not finite on some process (here: {value})"
            if before_step:
                batch = trainer.fit_loop.epoch_loop.batch_idx
                where += f" at global step {bad_step} (epoch {trainer.current_epoch}, batch {batch})"
                where += "; stopped before it changed the weights"
            else:
                period = self._period(trainer, self._first_bad_step.device)
                where += f" at global step {bad_step}, found at step {trainer.global_step} (read every {period} steps"
                where += ", without a synchronisation per step); the weights after it may not be finite"
        raise NonFiniteLossError(
            f"training loss is {where}. Last good checkpoint: {saved or 'none saved yet'}. Try a lower learning rate,"
            " gradient clipping (trainer.gradient_clip_val) or 32-bit precision, and check the data"
        )
