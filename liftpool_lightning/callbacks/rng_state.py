"""Random-number-generator states in checkpoints, so a resumed run draws the same dropout masks as the original."""

from __future__ import annotations

from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

CHECKPOINT_KEY = "liftpool_rng_states"


def per_rank(trainer: Trainer, state: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    """``state`` of every rank, in rank order, each a CPU copy with its own storage (one process: itself)."""
    if trainer.world_size == 1:
        return [state.detach().cpu().clone()]
    gathered = trainer.strategy.all_gather(state.detach().to(device))  # (world_size, ...); NCCL needs device tensors
    return [row.cpu().clone() for row in gathered]  # own storage each: a saved view would keep its offset


def _byte_state(saved: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    if saved.dtype != torch.uint8 or saved.shape != current.shape:
        raise ValueError(
            f"the checkpoint's RNG state has dtype {saved.dtype} and shape {tuple(saved.shape)}, expected"
            f" {current.dtype} {tuple(current.shape)} (written by another torch version?)"
        )
    return saved.clone().contiguous()


class RNGStateCheckpoint(Callback):
    """Stores torch's CPU (and CUDA) generator state of every rank in each checkpoint and restores this rank's one
    right before the first training step after a resume.

    Restoring there (not when the checkpoint is read) skips whatever runs in between (sanity validation, loader
    start-up), matching the uninterrupted run, in which the saved state is the one the next step starts from.
    Python's ``random`` and NumPy's generators are not stored: nothing in the framework draws from them.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        states = {"cpu": per_rank(trainer, torch.get_rng_state(), pl_module.device)}
        if pl_module.device.type == "cuda":
            states["cuda"] = per_rank(trainer, torch.cuda.get_rng_state(pl_module.device), pl_module.device)
        checkpoint[CHECKPOINT_KEY] = states

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._pending = checkpoint.get(CHECKPOINT_KEY)

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is None:
            return
        states, self._pending = self._pending, None
        saved_ranks = len(states["cpu"])
        if saved_ranks != trainer.world_size:
            rank_zero_warn(
                f"The checkpoint holds RNG states of {saved_ranks} processes, this run has {trainer.world_size};"
                " random draws (dropout) will differ from an uninterrupted run."
            )
        rank = trainer.global_rank % saved_ranks
        # torch reads the state from the start of its storage (a view at an offset would crash it): copy it
        torch.set_rng_state(_byte_state(states["cpu"][rank], torch.get_rng_state()))
        if "cuda" in states and pl_module.device.type == "cuda":
            current = torch.cuda.get_rng_state(pl_module.device)
            torch.cuda.set_rng_state(_byte_state(states["cuda"][rank], current), pl_module.device)
