"""The LightningCLI behind ``liftpool fit|validate|test|predict`` (imported lazily: it loads Lightning)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_only

import liftpool_lightning.data
import liftpool_lightning.robustness
import liftpool_lightning.tasks  # noqa: F401  (registers the tasks and data modules for short names)
from liftpool_lightning import __version__
from liftpool_lightning.callbacks import (
    DataErrorCheckpoint,
    EpochMetricState,
    ExperimentIdentity,
    PreemptionCheckpoint,
    RemoveUnusedRunFolder,
    RNGStateCheckpoint,
    StopOnNonFiniteLoss,
)
from liftpool_lightning.callbacks.trainer_attributes import runtime_attributes
from liftpool_lightning.checkpointing import AtomicCheckpointIO, check_checkpoint_file
from liftpool_lightning.checkpointing.experiment import (
    CHECKPOINT_KEY,
    candidate_roots,
    experiment_identity,
    identity_differences,
    model_differences,
)
from liftpool_lightning.checkpointing.resolve import SPECIAL_CKPT_PATHS, search_last_checkpoint
from liftpool_lightning.cli_parser_messages import ShortParserErrors
from liftpool_lightning.data.base import BaseDataModule

#: Model options the CLI sets from the data module when the model is built.
LINKED_MODEL_OPTIONS = ("num_classes",)


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


class LiftPoolArgumentParser(ShortParserErrors, LightningArgumentParser):
    """LightningCLI's parser whose errors are one or two lines (see ``cli_parser_messages``)."""


class LiftPoolCLI(LightningCLI):
    """LightningCLI whose task learns ``num_classes`` from the datamodule, and which checks ``--ckpt_path`` before
    anything is built: ``last`` is this experiment's newest last/preemption/SLURM checkpoint, and a checkpoint of
    other model options is an error rather than a silent swap of the model."""

    def add_arguments_to_parser(self, parser) -> None:
        for option in LINKED_MODEL_OPTIONS:
            parser.link_arguments(f"data.{option}", f"model.init_args.{option}", apply_on="instantiate")
        parser.add_argument(
            "--model_from_ckpt",
            type=bool,
            default=False,
            help="with --ckpt_path: take the model options from the checkpoint where they differ from the config and "
            "command line (each one is printed); by default a difference is an error",
        )

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The configured Trainer, writing checkpoints atomically unless the config names its own CheckpointIO."""
        plugins = self._get(self.config_init, "trainer", default={}).get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            kwargs["plugins"] = [*plugins, AtomicCheckpointIO()]
        trainer = super().instantiate_trainer(**kwargs)
        identity = getattr(self, "_identity", None)
        if identity is not None:  # every checkpoint says which experiment wrote it (read by --ckpt_path last)
            runtime_attributes(trainer).callbacks.append(ExperimentIdentity(identity))
        return trainer

    def _parse_ckpt_path(self) -> None:
        """Resolve ``--ckpt_path last`` to this experiment's newest checkpoint and refuse a checkpoint whose model
        options differ from the given ones (Lightning would silently take the checkpoint's), unless
        ``--model_from_ckpt true`` asks for the checkpoint's model."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        take_checkpoint_model = bool(config.get("model_from_ckpt"))
        self._identity = identity = experiment_identity(config)

        def differences(saved: dict[str, Any]) -> list[str]:
            return model_differences(config.get("model"), saved, linked=LINKED_MODEL_OPTIONS)

        def other_experiment(content: dict[str, Any]) -> list[str]:
            """Why a checkpoint found for ``last`` belongs to another experiment (empty: it is this one's)."""
            if CHECKPOINT_KEY in content:
                return identity_differences(content[CHECKPOINT_KEY], identity, skip=("model",) * take_checkpoint_model)
            return [] if take_checkpoint_model else differences(content.get("hyper_parameters") or {})

        if config.get("ckpt_path") == "last":
            config.ckpt_path = self._resolve_last(config, subcommand, other_experiment)
        ckpt_path = config.get("ckpt_path")
        if subcommand != "fit" and not ckpt_path and _untrained(config.get("model")):
            raise ValueError(
                f"liftpool {subcommand} without --ckpt_path would evaluate randomly initialised weights; give the "
                "checkpoint to evaluate (--ckpt_path CKPT, or --ckpt_path last for this experiment's latest), or "
                "pretrained ones (--model.init_args.weights NAME)"
            )
        if not ckpt_path or ckpt_path in SPECIAL_CKPT_PATHS:
            return
        problems = differences(check_checkpoint_file(ckpt_path).get("hyper_parameters") or {})
        if not problems:
            return  # the given model is the checkpoint's: nothing to take from it
        if not take_checkpoint_model:
            raise ValueError(
                f"--ckpt_path {ckpt_path} was trained with other model options than the config and command line give: "
                + "; ".join(problems)
                + ". Give the options it was trained with (its config.yaml is in its log folder), or add "
                "--model_from_ckpt true to take the checkpoint's"
            )
        print(f"liftpool: --model_from_ckpt: taking from the checkpoint {'; '.join(problems)}", file=sys.stderr)
        super()._parse_ckpt_path()
        self._identity = experiment_identity(self.config[subcommand])  # the checkpoint's model from here on

    @staticmethod
    def _resolve_last(config: Any, subcommand: str, differences: Any) -> str | None:
        """``last``: the newest last/preemption/SLURM checkpoint of this experiment (same seed, model and data
        options) under ``default_root_dir`` and the loggers' folders; fit starts from scratch when there is none."""
        roots = candidate_roots(config.trainer.default_root_dir, _logger_save_dirs(config.trainer.get("logger")))
        search = search_last_checkpoint(roots, differences)
        where = ", ".join(str(root) for root in roots)
        others = ""
        if search.passed_over:
            path, problems = search.passed_over[0]
            count = len(search.passed_over)
            others = (
                f" (passed over {count} newer checkpoint{'s' if count > 1 else ''} of other experiments; the newest, "
                f"{path}, has {'; '.join(problems)})"
            )
        if search.found is not None:
            print(f"liftpool: --ckpt_path last: resuming from {search.found}{others}", file=sys.stderr)
            return str(search.found)
        if subcommand != "fit":
            raise FileNotFoundError(f"--ckpt_path last: no checkpoint of this experiment under {where}{others}")
        print(f"liftpool: --ckpt_path last: no checkpoint of this experiment under {where}{others}: starting from "
              "scratch", file=sys.stderr)  # fmt: skip
        return None


def _untrained(model: Any) -> bool:
    """Whether a training task's config starts from random weights (no ``weights``, no ``backbone_checkpoint``);
    other LightningModules (e.g. the robustness evaluation, which names its checkpoint) are not judged."""
    class_path = str(model.get("class_path") or "") if hasattr(model, "get") else ""
    if not class_path.endswith(("ClassificationTask", "SegmentationTask")):
        return False
    init_args = model.get("init_args") or {}
    return not init_args.get("weights") and not init_args.get("backbone_checkpoint")


def _logger_save_dirs(logger: Any) -> list[str]:
    """The ``save_dir`` of each configured logger (a logger entry, a list of them, or a bool)."""
    entries = logger if isinstance(logger, list) else [logger]
    dirs = []
    for entry in entries:
        init_args = entry.get("init_args") if hasattr(entry, "get") else None
        save_dir = init_args.get("save_dir") if init_args is not None and hasattr(init_args, "get") else None
        if save_dir:
            dirs.append(str(save_dir))
    return dirs


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
        trainer_defaults={
            "callbacks": [
                PreemptionCheckpoint(),
                RNGStateCheckpoint(),
                EpochMetricState(),
                StopOnNonFiniteLoss(),
                DataErrorCheckpoint(),
                RemoveUnusedRunFolder(),  # after DataErrorCheckpoint: its checkpoint keeps the folder
            ]
        },
        auto_configure_optimizers=False,
        parser_kwargs={"version": f"liftpool-lightning {__version__}", "prog": "liftpool", "allow_abbrev": False},
        parser_class=LiftPoolArgumentParser,
        args=args,
    )
