"""Stop training at the first NaN or infinite loss, before it reaches the weights, naming the step."""

from __future__ import annotations

import torch
from lightning import Callback, LightningModule, Trainer
from torch import Tensor


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNonFiniteLoss(Callback):
    """Raise ``NonFiniteLossError`` when the training loss is NaN/inf, before its backward pass and optimiser step.

    The weights are still those of the last finite step and no checkpoint is written on this error, so the last
    saved checkpoint (named in the message) stays the last good one. Under DDP the check is agreed across ranks
    (one all-reduce of a flag per step) so every rank stops at the same step instead of the others hanging.
    """

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if trainer.world_size > 1:
            finite = trainer.strategy.reduce_boolean_decision(finite, all=True)
        if finite:
            return
        callback = trainer.checkpoint_callback
        saved = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
        value = loss.detach().float().item()
        where = f"{value}" if trainer.world_size == 1 else f"not finite on some process (here: {value})"
        raise NonFiniteLossError(
            f"training loss is {where} at global step {trainer.global_step} (epoch"
            f" {trainer.current_epoch}, batch {trainer.fit_loop.epoch_loop.batch_idx}); stopped before it changed the"
            f" weights. Last good checkpoint: {saved or 'none saved yet'}. Try a lower learning rate, gradient"
            " clipping (trainer.gradient_clip_val) or 32-bit precision, and check the data"
        )
