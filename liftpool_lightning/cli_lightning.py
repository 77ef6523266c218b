"""The LightningCLI behind ``liftpool fit|validate|test|predict`` (imported lazily: it loads Lightning)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_only

import liftpool_lightning.data
import liftpool_lightning.robustness
import liftpool_lightning.tasks  # noqa: F401  (registers the tasks and data modules for short names)
from liftpool_lightning import __version__
from liftpool_lightning.callbacks import PreemptionCheckpoint, RNGStateCheckpoint, StopOnNonFiniteLoss
from liftpool_lightning.checkpointing import AtomicCheckpointIO, check_checkpoint_file, find_last_checkpoint
from liftpool_lightning.checkpointing.resolve import SPECIAL_CKPT_PATHS
from liftpool_lightning.data.base import BaseDataModule


class RunConfigSaver(SaveConfigCallback):
    """Saves the resolved config to the log dir (overwriting, so a second run never aborts) and, for W&B, into the
    run's own files (uploaded with it) and as the run's config."""

    @rank_zero_only
    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                run = logger.experiment
                path = Path(run.dir) / "liftpool_config.yaml"  # W&B reserves config.yaml for its own run config
                self.parser.save(self.config, path, skip_none=False, overwrite=True, multifile=False)
                run.config.update(self.config.as_dict(), allow_val_change=True)


class LiftPoolCLI(LightningCLI):
    """LightningCLI whose task learns ``num_classes`` from the datamodule, and which checks ``--ckpt_path`` (and
    resolves ``last`` to the newest last/preemption/SLURM checkpoint under ``default_root_dir``) before anything is
    built."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The configured Trainer, writing checkpoints atomically unless the config names its own CheckpointIO."""
        plugins = self._get(self.config_init, "trainer", default={}).get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            kwargs["plugins"] = [*plugins, AtomicCheckpointIO()]
        return super().instantiate_trainer(**kwargs)

    def _parse_ckpt_path(self) -> None:
        subcommand = self.config.get("subcommand")
        if subcommand:
            config = self.config[subcommand]
            ckpt_path = config.get("ckpt_path")
            if ckpt_path == "last":
                root = config.trainer.default_root_dir or os.getcwd()
                found = find_last_checkpoint(root)
                message = f"resuming from {found}" if found else f"no checkpoint under {root}: starting from scratch"
                print(f"liftpool: --ckpt_path last: {message}", file=sys.stderr)
                config.ckpt_path = str(found) if found else None
            elif ckpt_path and ckpt_path not in SPECIAL_CKPT_PATHS:
                check_checkpoint_file(ckpt_path)
        super()._parse_ckpt_path()


def run_lightning_cli(args: list[str] | None = None) -> LiftPoolCLI:
    """Parse ``args`` (e.g. ``["fit", "--config", "x.yaml"]``; None: the command line) and run the subcommand."""
    return LiftPoolCLI(
        LightningModule,  # the training tasks (BaseTask subclasses) and RobustnessTask
        BaseDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=RunConfigSaver,
        save_config_kwargs={"overwrite": True},
        # added to every run (after the config's own callbacks): see docs of each; atomic checkpoint writes
        trainer_defaults={"callbacks": [PreemptionCheckpoint(), RNGStateCheckpoint(), StopOnNonFiniteLoss()]},
        auto_configure_optimizers=False,
        parser_kwargs={"version": f"liftpool-lightning {__version__}"},
        args=args,
    )
