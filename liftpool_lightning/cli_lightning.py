"""The LightningCLI behind ``liftpool fit|validate|test|predict`` (imported lazily: it loads Lightning)."""

from __future__ import annotations

from lightning.pytorch.cli import LightningCLI

import liftpool_lightning.data
import liftpool_lightning.tasks  # noqa: F401  (registers the tasks for short names)
from liftpool_lightning import __version__
from liftpool_lightning.data.base import BaseDataModule
from liftpool_lightning.tasks.base import BaseTask


class LiftPoolCLI(LightningCLI):
    """LightningCLI whose task learns ``num_classes`` from the datamodule."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")


def run_lightning_cli(args: list[str] | None = None) -> LiftPoolCLI:
    """Parse ``args`` (e.g. ``["fit", "--config", "x.yaml"]``; None: the command line) and run the subcommand."""
    return LiftPoolCLI(
        BaseTask,
        BaseDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_kwargs={"version": f"liftpool-lightning {__version__}"},
        args=args,
    )
