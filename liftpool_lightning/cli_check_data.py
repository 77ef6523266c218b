"""``liftpool check-data --config CONFIG.yaml [--workers N]``: scan the config's data set before training."""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Any

from lightning import LightningModule

from liftpool_lightning.cli_lightning import LiftPoolArgumentParser, LiftPoolCLI
from liftpool_lightning.data.base import BaseDataModule
from liftpool_lightning.data.check import check_data


class DataCheckCLI(LiftPoolCLI):
    """The training command's parser (same configs, same ``--data.*`` options) that builds only the data module."""

    def add_core_arguments_to_parser(self, parser: Any) -> None:
        """LightningCLI's core arguments, with the model optional: a data config alone is enough to check."""
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.add_lightning_class_args(self._model_class, "model", subclass_mode=True, required=False)
        parser.add_lightning_class_args(self._datamodule_class, "data", subclass_mode=True)

    def add_arguments_to_parser(self, parser: Any) -> None:
        super().add_arguments_to_parser(parser)
        parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                            help="processes that load samples in parallel (0: in this process)")  # fmt: skip

    def instantiate_classes(self) -> None:
        data = self.config.data
        if data is None or not data.get("class_path"):
            raise ValueError("check-data: the config has no data module (data.class_path)")
        module, name = data.class_path.rsplit(".", 1)
        cls = getattr(import_module(module), name)
        init_args = data.init_args.as_dict() if data.get("init_args") else {}
        self.datamodule: BaseDataModule = cls(**init_args)
        self.model = self.trainer = None  # type: ignore[assignment]


def run_check_data(args: list[str]) -> int:
    """Parse ``args`` like ``liftpool fit`` does (no subcommand), scan every split; 0 when every sample loads."""
    if not any(arg in ("-c", "--config", "-h", "--help") or arg.startswith(("--config=", "--data")) for arg in args):
        print("liftpool check-data: error: give the config whose data to check: liftpool check-data --config "
              "CONFIG.yaml [--workers N] (--help lists the options)", file=sys.stderr)  # fmt: skip
        return 2
    argv, sys.argv = sys.argv, sys.argv[:1]  # args are the command line: no "args and sys.argv" warning
    try:
        cli = DataCheckCLI(
            LightningModule,  # parsed as in training, not built
            BaseDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=None,
            seed_everything_default=False,  # nothing is trained: no "seed set" lines
            run=False,
            args=args,
            parser_kwargs={"prog": "liftpool check-data", "allow_abbrev": False},
            parser_class=LiftPoolArgumentParser,  # the same one- or two-line errors as the training commands
        )
    finally:
        sys.argv = argv
    workers = cli.config.workers
    if workers < 0:
        raise ValueError(f"--workers must be >= 0, got {workers}")
    report = check_data(cli.datamodule, workers=workers)
    checked = ", ".join(f"{split} {count}" for split, count in report.checked.items()) or "none"
    for problem in report.problems:
        print(f"liftpool check-data: {problem}", file=sys.stderr)
    name = type(cli.datamodule).__name__
    if report.ok:
        print(f"liftpool check-data: {name}: every sample loads ({checked})")
        return 0
    count = len(report.problems)
    print(f"liftpool check-data: {name}: {count} problem(s) (samples checked: {checked})", file=sys.stderr)
    return 1
