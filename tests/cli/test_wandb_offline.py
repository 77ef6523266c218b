"""The W&B logger preset in offline mode: the resolved config lands in the run's own files, no login needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import wandb
import yaml

from liftpool_lightning.cli import main
from tests.cli.conftest import QUICKSTART, ROOT, TINY_SYNTHETIC


def test_wandb_offline_run_keeps_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)  # the preset's save_dir (runs/) is relative
    args = ["fit", "--config", str(QUICKSTART), "--config", str(ROOT / "configs" / "logger" / "wandb.yaml"),
            *TINY_SYNTHETIC, "--trainer.max_epochs=1"]  # fmt: skip
    main(args)
    wandb.finish()  # as at the end of a process: the next run is a new W&B run
    main(args)  # a second run in the same place does not abort on an existing config
    wandb.finish()
    runs = sorted((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    for run in runs:
        config = yaml.safe_load((run / "files" / "liftpool_config.yaml").read_text())
        assert config["model"]["init_args"]["network"] == "small_vgg"
        assert config["trainer"]["logger"]["class_path"] == "lightning.pytorch.loggers.WandbLogger"
