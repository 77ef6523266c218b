"""Keep finished work when a sample fails to load: save a checkpoint before the run stops."""

from __future__ import annotations

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import RunningStage

from liftpool_lightning.callbacks.preemption import checkpoint_folder
from liftpool_lightning.data.sample_guard import BadSampleError


class DataErrorCheckpoint(Callback):
    """When a sample fails to load during ``fit`` (a :class:`BadSampleError`, training or validation), save
    ``last.ckpt`` where the run keeps its checkpoints and add its path and how to go on to the error's one line.

    A failure in validation thus keeps the training epoch before it (its training metrics are logged at once, as its
    end would have logged them), and resuming runs that validation again from its first batch; one in training keeps
    the steps done (the resumable loader restarts at the failed batch). Fix or remove the file (``liftpool
    check-data`` lists every bad one) and resume with ``--ckpt_path last``, or set ``data.init_args.skip_bad_samples``.
    Under multi-process DDP only the failing rank sees the error and a checkpoint needs every rank, so none is saved
    there (said in the line).
    """

    def __init__(self, filename: str = "last.ckpt") -> None:
        self.filename = filename

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, BadSampleError) or trainer.state.fn != "fit":
            return
        advice = "fix or remove the file (liftpool check-data lists every bad one)"
        if trainer.world_size > 1:
            note = f"no checkpoint saved (a multi-process run); {advice}, or set data.init_args.skip_bad_samples true"
        else:
            if trainer.validating:  # not trainer.sanity_checking: that runs before any training
                _log_finished_training_epoch(trainer)
                _mark_validation_interrupted(trainer)
            path = checkpoint_folder(trainer) / self.filename
            trainer.save_checkpoint(path)
            note = (
                f"checkpoint saved to {path} (epoch {trainer.current_epoch}, step {trainer.global_step}); {advice} "
                "and resume with --ckpt_path last, or set data.init_args.skip_bad_samples true"
            )
        exception.args = (f"{exception}; {note}",)


def _mark_validation_interrupted(trainer: Trainer) -> None:
    """Record the fit's validation as interrupted before its first batch: a checkpoint saved now resumes by running
    the whole validation (Lightning reruns an evaluation it finds started but not processed) instead of skipping it
    as done, so the epoch gets its validation metrics and its best-by-validation checkpoint."""
    progress = trainer.fit_loop.epoch_loop.val_loop.batch_progress
    progress.reset_on_run()  # this validation's own counters back to its first batch (the totals stay)
    progress.increment_ready()
    progress.increment_started()


def _log_finished_training_epoch(trainer: Trainer) -> None:
    """Log the finished training epoch's metrics now, as Lightning does at the epoch's end (after its validation):
    the resumed run goes straight to that validation and has no training step of the epoch to log them from."""
    connector, stage = trainer._logger_connector, trainer.state.stage
    trainer.state.stage = RunningStage.TRAINING  # the logger connector reads the training epoch's results
    try:
        connector.epoch_end_reached()
        connector.on_epoch_end()
        connector.update_train_epoch_metrics()  # at the step the epoch's validation logs at, as at the epoch's end
    finally:
        trainer.state.stage = stage
