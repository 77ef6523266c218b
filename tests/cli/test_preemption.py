"""Preemption for real: a ``liftpool fit`` subprocess is signalled mid-epoch, saves a checkpoint at the step
boundary and exits; the resumed run ends with bitwise the weights, optimiser state and metrics of an uninterrupted
run (CPU, fixed seed)."""

from __future__ import annotations

import csv
import os
import signal
import stat
from pathlib import Path

import pytest
import torch

from tests.cli.conftest import QUICKSTART, run_subprocess, signal_mid_epoch

STEPS_PER_EPOCH = 20  # 1280 images / batch 64

# three training runs per test (the first one's module fixture included): room for a busy shared machine
pytestmark = pytest.mark.timeout(1200)


def fit_args(root: Path) -> list[str]:
    """Two short quickstart epochs (lift pool, OneCycle schedule, flips, sub-band pictures) with files in root."""
    return [
        "fit",
        "--config",
        str(QUICKSTART),
        "--data.num_train=1280",
        "--data.num_val=128",
        "--trainer.max_epochs=2",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={root}",
        f"--trainer.logger.init_args.save_dir={root}",
    ]


def final_state(root: Path, steps_per_epoch: int = STEPS_PER_EPOCH) -> tuple[dict, list[dict]]:
    """The newest last.ckpt (end of training) and the validation and training-epoch rows of every metrics.csv under
    root (each row's non-empty values)."""
    checkpoint = torch.load(max(root.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime), weights_only=True)
    assert checkpoint["global_step"] == 2 * steps_per_epoch
    rows = [r for path in sorted(root.rglob("metrics.csv")) for r in csv.DictReader(path.open())]
    epoch_rows = [{k: v for k, v in r.items() if v} for r in rows if r.get("val/loss") or r.get("train/loss_epoch")]
    return checkpoint, epoch_rows


def assert_same_training(resumed: dict, reference: dict) -> None:
    for key, value in reference["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key
    for key, state in reference["optimizer_states"][0]["state"].items():
        for name, value in state.items():
            assert torch.equal(resumed["optimizer_states"][0]["state"][key][name], value), (key, name)
    assert resumed["lr_schedulers"] == reference["lr_schedulers"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    root = tmp_path_factory.mktemp("uninterrupted")
    result = run_subprocess(fit_args(root), cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return final_state(root)


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGUSR1, marks=pytest.mark.slow)], ids=["SIGTERM", "SIGUSR1"]
)
def test_signal_mid_epoch_saves_and_resume_is_bitwise(tmp_path: Path, uninterrupted, signum: int) -> None:
    status, output = signal_mid_epoch(fit_args(tmp_path), tmp_path, signum)
    assert status == 0, output[-3000:]
    saved = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert f"checkpoint saved to {saved}" in output
    preempted = torch.load(saved, weights_only=True)
    (loader_state,) = preempted["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader_state["epoch"] == 1 and 3 <= loader_state["batches_yielded"] < STEPS_PER_EPOCH  # mid-epoch
    assert preempted["global_step"] == STEPS_PER_EPOCH + loader_state["batches_yielded"]

    resumed = run_subprocess([*fit_args(tmp_path), "--ckpt_path=last"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {saved}" in resumed.stderr
    assert "not resumable" not in resumed.stderr  # Lightning's warning about mid-epoch restarts
    checkpoint, rows = final_state(tmp_path)
    reference, reference_rows = uninterrupted
    assert_same_training(checkpoint, reference)
    # the interrupted epoch's training metrics (over all its steps) and the last validation, digit for digit
    assert rows[-2:] == reference_rows[-2:]
    assert {"val/loss", "train/loss_epoch", "train/top1_accuracy"} <= {*rows[-2], *rows[-1]}


@pytest.mark.slow
def test_slurm_usr1_requeues_and_the_requeued_job_resumes_bitwise(tmp_path: Path, uninterrupted) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"  # records the requeue instead of talking to a SLURM controller
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    slurm = {
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_JOB_NAME": "liftpool",
        "SLURM_JOB_ID": "4242",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    run_root = tmp_path / "run"
    run_root.mkdir()
    status, output = signal_mid_epoch(fit_args(run_root), run_root, signal.SIGUSR1, env=slurm)
    assert status == 0, output[-3000:]
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    hpc = run_root / "hpc_ckpt_1.ckpt"
    (loader_state,) = torch.load(hpc, weights_only=True)["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader_state["epoch"] == 1 and 3 <= loader_state["batches_yielded"] < STEPS_PER_EPOCH

    requeued = run_subprocess(fit_args(run_root), run_root, env=slurm)  # the same command, as SLURM reruns it
    assert requeued.returncode == 0, requeued.stderr[-3000:]
    assert f"Restoring states from the checkpoint path at {hpc}" in requeued.stdout + requeued.stderr
    checkpoint, rows = final_state(run_root)
    assert_same_training(checkpoint, uninterrupted[0])
    assert rows[-1] == uninterrupted[1][-1]


@pytest.mark.slow
def test_ddp_sigterm_mid_epoch_then_resume_is_bitwise(tmp_path: Path) -> None:
    """2 CPU processes: SIGTERM to the launching process; every rank stops at the same step, the checkpoint holds
    both ranks' RNG and epoch metric states, and the resumed 2-process run equals an uninterrupted 2-process run."""
    ddp = ["--trainer.devices=2", "--trainer.strategy=ddp"]
    reference_root, root = tmp_path / "uninterrupted", tmp_path / "preempted"
    reference_root.mkdir(), root.mkdir()
    result = run_subprocess([*fit_args(reference_root), *ddp], cwd=reference_root)
    assert result.returncode == 0, result.stderr[-3000:]
    status, output = signal_mid_epoch([*fit_args(root), *ddp], root, signal.SIGTERM)
    assert status == 0, output[-3000:]
    saved = torch.load(root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert len(saved["liftpool_rng_states"]["cpu"]) == 2
    assert 0 < saved["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["batches_yielded"] < 10
    resumed = run_subprocess([*fit_args(root), *ddp, "--ckpt_path=last"], cwd=root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    checkpoint, rows = final_state(root, steps_per_epoch=STEPS_PER_EPOCH // 2)
    reference, reference_rows = final_state(reference_root, steps_per_epoch=STEPS_PER_EPOCH // 2)
    assert_same_training(checkpoint, reference)
    assert len(saved["liftpool_epoch_metrics"]["logged"]["training_step.train/loss"]["value"]) == 2  # both ranks'
    assert rows[-2:] == reference_rows[-2:]  # the interrupted epoch's training metrics and the last validation
