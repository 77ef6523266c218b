"""Helpers to run the ``liftpool`` CLI in-process (fast) or as a subprocess (DDP, signals)."""

from __future__ import annotations

import os
import signal
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


def run_subprocess(
    args: list[str], cwd: Path, timeout: int = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def signal_mid_epoch(
    args: list[str], cwd: Path, signum: int, epoch: int = 1, after_batches: int = 3, env: dict | None = None
) -> tuple[int, str]:
    """Start ``liftpool`` (progress bar on), send ``signum`` once the bar shows ``after_batches`` done in ``epoch``,
    wait for the exit; returns the exit status and the output (stdout + stderr)."""
    import re
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "liftpool_lightning", *args, "--trainer.enable_progress_bar=true"],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # DDP workers share the group: a hang is killed whole
    )
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    pattern = re.compile(rf"Epoch {epoch}: +\d+%\|[^|]*\| +([0-9]+)/".encode())
    output, deadline = b"", time.monotonic() + 600
    while time.monotonic() < deadline:
        output += process.stdout.read() or b""
        if any(int(m.group(1)) >= after_batches for m in pattern.finditer(output)):
            process.send_signal(signum)
            break
        if process.poll() is not None:
            raise AssertionError(f"ended before the signal was sent:\n{output.decode()[-3000:]}")
        time.sleep(0.02)
    else:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"timed out waiting for the progress bar:\n{output.decode()[-3000:]}")
    deadline = time.monotonic() + 300
    while process.poll() is None:  # read while waiting: a full pipe must not block the run
        output += process.stdout.read() or b""
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"still running 300 s after the signal:\n{output.decode()[-3000:]}")
        time.sleep(0.05)
    output += process.stdout.read() or b""
    return process.returncode, output.decode(errors="replace")
