"""Save a checkpoint and stop cleanly when the job is told to stop (preemption, ``scancel``, ``kill``, SLURM's
time-limit warning), at a step boundary so the checkpoint is consistent."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from types import FrameType
from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException


def _slurm_job_id() -> str | None:
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array_job else os.environ.get("SLURM_JOB_ID")
    return job if job and re.fullmatch(r"[0-9_]+", job) else None


def checkpoint_folder(trainer: Trainer) -> Path:
    """Where the run's ``ModelCheckpoint`` keeps its files (else ``default_root_dir/checkpoints``)."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.dirpath:
        return Path(callback.dirpath)
    return Path(trainer.default_root_dir) / "checkpoints"


class PreemptionCheckpoint(Callback):
    """On SIGTERM or the extra signal (SIGUSR1) during ``fit``: finish the current step, save a checkpoint, stop.

    The signal handlers only set a flag. At the end of every training step the ranks agree on it (one tiny
    all-reduce under DDP, nothing on a single process), and when any rank was signalled every rank stops after that
    same step with a ``SIGTERMException``; this callback then saves the checkpoint and the run exits with status 0.
    Lightning's own SIGTERM handler is replaced for the training loop: it broadcasts from inside the handler, a
    collective at an arbitrary point of rank 0's step that can deadlock a multi-process run. A signal that arrives
    during validation takes effect after the next training step. With the resumable training loader and
    ``RNGStateCheckpoint``, resuming gives bitwise the weights of an uninterrupted run on CPU.

    - Outside SLURM the file is ``last.ckpt`` where ``ModelCheckpoint`` keeps its checkpoints (else
      ``default_root_dir/checkpoints``); ``liftpool fit ... --ckpt_path last`` resumes from it.
    - Under SLURM with auto-requeue (Lightning's default there) it is ``default_root_dir/hpc_ckpt_N.ckpt``, which
      Lightning resumes from by itself when the job restarts; on the extra signal (``#SBATCH --signal=USR1@120``:
      the time limit is near) the job is also requeued with ``scontrol requeue``. This replaces Lightning's own
      SIGUSR1 handler, which saves from inside the signal handler, possibly halfway through an optimiser step.

    Args:
        filename: checkpoint file name outside SLURM.
        extra_signal: the additional stop signal (``SIGUSR1``, ``SIGUSR2``, ``SIGINT``...); None: SIGTERM only.
    """

    def __init__(self, filename: str = "last.ckpt", extra_signal: str | None = "SIGUSR1") -> None:
        if extra_signal is not None and not hasattr(signal, extra_signal):
            raise ValueError(f"extra_signal must name a signal of this platform (e.g. SIGUSR1), got {extra_signal!r}")
        self.filename = filename
        self.extra_signal = extra_signal
        self._previous_handlers: dict[int, Any] = {}
        self._pending = False  # a stop signal arrived on this rank
        self._extra_received = False

    @staticmethod
    def slurm_requeue(trainer: Trainer) -> bool:
        """Whether this run is a SLURM job that Lightning auto-requeues."""
        environment = trainer._accelerator_connector.cluster_environment
        return isinstance(environment, SLURMEnvironment) and environment.auto_requeue

    def checkpoint_path(self, trainer: Trainer) -> Path:
        """Where the checkpoint goes (see the class docs)."""
        if self.slurm_requeue(trainer):  # Lightning's own naming, which it resumes from when the job restarts
            return Path(trainer._checkpoint_connector.hpc_save_path(trainer.default_root_dir))
        return checkpoint_folder(trainer) / self.filename

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        rank_zero_info(f"Received {signal.Signals(signum).name}: saving a checkpoint after this step and stopping.")
        self._pending = True
        if signum != signal.SIGTERM:
            self._extra_received = True

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # the extra signal is taken before Lightning registers its handlers (it leaves a taken SIGUSR1 alone)
        self._pending = self._extra_received = False
        if self.extra_signal is not None and os.name != "nt":
            self._previous_handlers.update(self._install(getattr(signal, self.extra_signal)))

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # SIGTERM after Lightning registered its own handler (at the start of the run), which this one replaces
        if os.name != "nt":
            self._previous_handlers.update(self._install(signal.SIGTERM))
        if trainer._signal_connector.received_sigterm:  # a SIGTERM before training started (sanity check)
            trainer._signal_connector.received_sigterm, self._pending = False, True

    def _install(self, signum: int) -> dict[int, Any]:
        try:
            return {signum: signal.signal(signum, self._on_signal)}
        except ValueError:  # not the main thread (e.g. a notebook's worker thread)
            return {}

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        """Every rank takes the same decision after the same step: stop when any rank was signalled."""
        if trainer.strategy.reduce_boolean_decision(self._pending, all=False):
            trainer._signal_connector.received_sigterm = True  # Lightning raises SIGTERMException after this step

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
        self._previous_handlers = {}

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore_handlers()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        try:
            if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
                self._save(trainer)
        finally:
            self._restore_handlers()

    def _save(self, trainer: Trainer) -> None:
        path = self.checkpoint_path(trainer)
        trainer.save_checkpoint(path)  # every rank takes part (a collective); rank 0 writes
        where = f"epoch {trainer.current_epoch}, step {trainer.global_step}"
        if self.slurm_requeue(trainer):
            if self._extra_received and trainer.is_global_zero:
                self._requeue()
            rank_zero_info(f"Stopped at {where}; checkpoint saved to {path}; the job resumes from it when requeued")
        else:
            rank_zero_info(
                f"Stopped at {where}; checkpoint saved to {path}. Resume: the same command plus --ckpt_path last"
            )

    @staticmethod
    def _requeue() -> None:
        job = _slurm_job_id()
        if job is None:
            rank_zero_warn("SLURM_JOB_ID is missing or malformed: the job was not requeued")
            return
        try:
            result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            rank_zero_warn(f"scontrol not found: SLURM job {job} was not requeued")
            return
        if result.returncode == 0:
            rank_zero_info(f"Requeued SLURM job {job}")
        else:
            rank_zero_warn(f"Requeueing SLURM job {job} failed ({result.returncode}): {result.stderr.strip()}")
