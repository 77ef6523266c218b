"""Helpers to run the ``liftpool`` CLI in-process (fast) or as a subprocess (DDP, signals)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from liftpool_lightning.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"

TINY_SYNTHETIC = [
    "--data.num_train=48",
    "--data.num_val=16",
    "--data.batch_size=8",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.log_every_n_steps=1",
]


def tiny_args(root: Path) -> list[str]:
    """TINY_SYNTHETIC plus the run's directories under ``root`` (checkpoints and the quickstart's CSV logger)."""
    return [*TINY_SYNTHETIC, f"--trainer.default_root_dir={root}", f"--trainer.logger.init_args.save_dir={root}"]


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run ``liftpool`` in-process with the run's files under ``tmp_path``."""

    def run(*args: str) -> None:
        main([*args])

    return run


def run_subprocess(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
