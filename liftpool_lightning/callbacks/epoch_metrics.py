"""The training epoch's metric state in mid-epoch checkpoints, so a run resumed mid-epoch logs the epoch's training
metrics over all its steps, as an uninterrupted run does, not over the steps after the resume only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torchmetrics import Metric

from liftpool_lightning.callbacks.rng_state import per_rank

if TYPE_CHECKING:
    from lightning.pytorch.loops.progress import _ProcessedTracker
    from lightning.pytorch.trainer.connectors.logger_connector.result import _ResultMetric

CHECKPOINT_KEY = "liftpool_epoch_metrics"


def _training_metrics(pl_module: LightningModule) -> dict[str, Metric]:
    """The torchmetrics the module updates in training (its ``train_metrics`` collection), by name."""
    collection = getattr(pl_module, "train_metrics", None)
    return dict(collection.items(keep_base=True)) if collection is not None else {}


def _logged(trainer: Trainer) -> dict[str, _ResultMetric]:
    """The values ``self.log`` accumulates over the training epoch (Lightning's epoch-level results), by key."""
    results: dict[str, _ResultMetric] = trainer.fit_loop.epoch_loop._results
    return {key: result for key, result in results.items() if result.is_tensor and result.meta.on_epoch}


def _mid_epoch(trainer: Trainer) -> bool:
    """Training, after at least one step of the epoch and before its last (``processed``: a checkpoint saved at the
    end of a batch counts that batch, which ``completed`` does only once its end hooks have run)."""
    # the training loop's batch progress counts processed batches (typed as its base tracker, without them)
    progress = cast("_ProcessedTracker", trainer.fit_loop.epoch_loop.batch_progress.current)
    return trainer.training and 0 < progress.processed < trainer.num_training_batches


def _tensor_state(value: object) -> Tensor:
    """A state of a logged value's ``_ResultMetric``: a tensor (``_logged`` keeps tensor results only), which torch
    types as a module attribute (``Tensor | Module``)."""
    return cast(Tensor, value)


class EpochMetricState(Callback):
    """Stores, in a checkpoint saved in the middle of a training epoch (a preemption or a data error), every rank's
    state of the epoch's training metrics (the module's ``train_metrics`` and the epoch means of ``self.log``), and
    puts this rank's back after a resume: the torchmetrics before the first step, the logged sums merged right after
    it (adding the same terms in the same order: bitwise the uninterrupted run's epoch values). States whose shape
    varies between ranks (``cat`` states) are not carried; a run resumed on another number of processes says so and
    logs the epoch's training metrics over the steps after the resume."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if not _mid_epoch(trainer):
            return
        device = pl_module.device
        metrics = {}
        for name, metric in _training_metrics(pl_module).items():
            states = metric.metric_state
            tensors = {key: value for key, value in states.items() if isinstance(value, Tensor)}
            if len(tensors) < len(states):
                continue  # list ("cat") states: their shapes differ between ranks
            metrics[name] = {
                "update_count": metric._update_count,
                "states": {key: per_rank(trainer, value, device) for key, value in tensors.items()},
            }
        logged = {
            key: {
                state: per_rank(trainer, _tensor_state(value), device) for state, value in result.metric_state.items()
            }
            for key, result in _logged(trainer).items()
        }
        checkpoint[CHECKPOINT_KEY] = {"epoch": trainer.current_epoch, "ranks": trainer.world_size,
                                      "metrics": metrics, "logged": logged}  # fmt: skip

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY)
        if saved is not None and saved["ranks"] != trainer.world_size:
            rank_zero_warn(
                f"The checkpoint holds the training metric state of {saved['ranks']} processes, this run has "
                f"{trainer.world_size}: epoch {saved['epoch']}'s training metrics will cover the steps after the "
                "resume only."
            )
            saved = None
        self._pending = saved

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is None or self._pending["epoch"] != trainer.current_epoch:
            self._pending = None
            return
        rank, device = trainer.global_rank, pl_module.device
        metrics = _training_metrics(pl_module)
        for name, saved in self._pending.pop("metrics").items():
            metric = metrics.get(name)
            if metric is None:
                continue
            for key, values in saved["states"].items():
                setattr(metric, key, values[rank].to(device))
            metric._update_count = saved["update_count"]
            metric._computed = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is None:
            return
        saved, self._pending = self._pending["logged"], None
        rank = trainer.global_rank
        for key, result in _logged(trainer).items():
            if key not in saved:
                continue
            before = {state: values[rank].to(result.value.device) for state, values in saved[key].items()}
            if result.meta.is_max_reduction:
                result.value = torch.maximum(before["value"], _tensor_state(result.value))
            elif result.meta.is_min_reduction:
                result.value = torch.minimum(before["value"], _tensor_state(result.value))
            else:  # mean (a batch-size-weighted sum and the batch sizes) or sum: the earlier steps' sums first
                for state, value in before.items():
                    setattr(result, state, value + getattr(result, state))
