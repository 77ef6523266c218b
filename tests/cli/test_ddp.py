"""``--trainer.devices 2 --trainer.strategy ddp`` for real: 2 CPU processes (gloo) launched by the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from tests.cli.conftest import QUICKSTART, ROOT, run_subprocess, tiny_args

DDP_PRESET = ROOT / "configs" / "trainer" / "ddp.yaml"  # DDPStrategy with its collective timeout, as shipped
CPU_OVERRIDES = [
    "--trainer.accelerator=cpu",
    "--trainer.devices=2",
    "--trainer.precision=32-true",
    "--trainer.sync_batchnorm=false",
]  # fmt: skip  (SyncBatchNorm needs GPUs)


def test_two_process_ddp_fit_then_test(tmp_path: Path) -> None:
    common = ["--config", str(QUICKSTART), *tiny_args(tmp_path)]
    result = run_subprocess(  # the ddp preset (DDPStrategy with a timeout) on 2 CPU processes
        ["fit", *common, "--config", str(DDP_PRESET), *CPU_OVERRIDES, "--trainer.max_epochs=1"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    versions = list((tmp_path / "lightning_logs").iterdir())
    assert [v.name for v in versions] == ["version_0"]  # rank 0 alone writes logs and checkpoints
    run_dir = versions[0]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir())[-1] == "last.ckpt"
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    train_steps = [int(r["step"]) for r in rows if r.get("train/loss_step")]
    assert max(train_steps) == 2  # 48 images / (2 ranks x 8) = 3 steps per epoch on each rank
    val = [float(r["val/top1_accuracy"]) for r in rows if r.get("val/top1_accuracy")]
    assert len(val) == 1
    pictures = sorted((run_dir / "images").glob("*.png"))  # SubbandVisualizer draws on rank 0 only, once
    assert [p.name for p in pictures] == ["subbands_network.features.6_fit_end_step0000003.png"]

    # the DDP-reduced validation accuracy equals a single-process evaluation of the same checkpoint
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    single = run_subprocess(["validate", *common, f"--ckpt_path={checkpoint}"], cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "lightning_logs" / "version_1" / "metrics.csv").open()))
    single_val = [float(r["val/top1_accuracy"]) for r in rows if r.get("val/top1_accuracy")]
    assert torch.isclose(torch.tensor(single_val[0]), torch.tensor(val[0]))
