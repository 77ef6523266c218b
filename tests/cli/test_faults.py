"""Faults provoked for real: a NaN loss, a crashing DDP rank, bad checkpoint files, a kill during a checkpoint
write. Each checks the message and that finished work (the last good checkpoint) is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from liftpool_lightning.checkpointing import find_last_checkpoint
from liftpool_lightning.cli import main
from tests.cli.conftest import QUICKSTART, ROOT, run_subprocess, tiny_args


def write_callbacks_config(path: Path, *callbacks: str) -> Path:
    """A config adding a 'latest' ModelCheckpoint and the given callback YAML snippets (replaces the list)."""
    items = "\n".join(f"    - {c}" for c in callbacks)
    path.write_text(
        "trainer:\n  callbacks:\n"
        "    - {class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: {filename: last}}\n" + items + "\n"
    )
    return path


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    extra = write_callbacks_config(
        tmp_path / "poison.yaml", "{class_path: tests.cli.fault_injection.PoisonBatch, init_args: {step: 8}}"
    )
    args = ["fit", "--config", str(QUICKSTART), "--config", str(extra), *tiny_args(tmp_path), "--trainer.max_epochs=3"]
    result = run_subprocess(args, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr[-3000:]
    (error_line,) = [line for line in result.stderr.splitlines() if line.startswith("liftpool: error:")]
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert "training loss is nan at global step 8 (epoch 1, batch 2)" in error_line  # 6 steps per epoch
    assert f"Last good checkpoint: {last}" in error_line
    checkpoint = torch.load(last, weights_only=True)  # the end of epoch 0, untouched by the NaN step
    assert checkpoint["global_step"] == 6
    assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values())


@pytest.mark.parametrize("rank", [0, 1])
def test_a_crashing_ddp_rank_ends_the_job_with_its_error(tmp_path: Path, rank: int) -> None:
    extra = write_callbacks_config(
        tmp_path / "crash.yaml",
        "{class_path: tests.cli.fault_injection.CrashOnRank, init_args: {rank: " + str(rank) + ", step: 2}}",
    )
    args = ["fit", "--config", str(QUICKSTART), "--config", str(extra), *tiny_args(tmp_path)]
    start = time.monotonic()
    result = run_subprocess(
        [*args, "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_epochs=3"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT)},
        timeout=240,
    )
    elapsed = time.monotonic() - start
    assert result.returncode != 0
    assert f"injected crash on rank {rank} at step 2" in result.stderr
    assert elapsed < 120  # not a hang until the 30-minute collective timeout


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny quickstart run with pool=max; returns its last.ckpt."""
    root = tmp_path_factory.mktemp("trained")
    main(["fit", "--config", str(QUICKSTART), *tiny_args(root), "--trainer.max_epochs=1", "--model.init_args.pool=max"])
    return root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"


def _truncated(trained: Path, target: Path) -> Path:
    data = trained.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t, d: d / "missing.ckpt", r"checkpoint .*missing\.ckpt does not exist"),
        (lambda t, d: (d / "notes.ckpt").write_text("hello") and d / "notes.ckpt", "not a torch checkpoint file"),
        (lambda t, d: _truncated(t, d / "cut.ckpt"), r"cut\.ckpt is not a readable checkpoint: truncated"),
        (
            lambda t, d: torch.save({"w": torch.ones(2)}, d / "weights.pt") or d / "weights.pt",
            r"weights\.pt is a plain state dict, not a checkpoint written by `liftpool fit`",
        ),
        (
            lambda t, d: torch.save({"state_dict": {}, "x": os.system}, d / "code.ckpt") or d / "code.ckpt",
            r"code\.ckpt is not a readable checkpoint: .*pickled Python objects that are not run",
        ),
    ],
    ids=["missing", "text", "truncated", "state-dict", "pickled-code"],
)
def test_bad_checkpoint_files_fail_before_anything_is_built(tmp_path: Path, trained: Path, make, message) -> None:
    path = make(trained, tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        main(["test", "--config", str(QUICKSTART), *tiny_args(tmp_path), f"--ckpt_path={path}"])
    assert not (tmp_path / "lightning_logs").exists()


def test_checkpoint_of_another_configuration_is_refused_naming_the_difference(tmp_path: Path, trained: Path) -> None:
    with pytest.raises(ValueError, match=r"num_classes: checkpoint=8, model=4.*of another shape: network\.classifier"):
        main(["test", "--config", str(QUICKSTART), *tiny_args(tmp_path), "--data.init_args.num_shapes=4",
              "--model.init_args.pool=max", f"--ckpt_path={trained}"])  # fmt: skip

    from lightning import Trainer

    from liftpool_lightning.data import SyntheticShapesDataModule
    from liftpool_lightning.tasks import ClassificationTask

    lift = ClassificationTask("small_vgg", num_classes=8, pool="lift")
    data = SyntheticShapesDataModule(num_train=16, num_val=16, batch_size=8)
    trainer = Trainer(max_epochs=1, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(
        ValueError,
        match=r"pool: checkpoint='max', model='lift'; \d+ missing in the checkpoint: network\.features\.6\.predict",
    ):
        trainer.fit(lift, data, ckpt_path=trained)


def test_last_skips_unreadable_candidates(tmp_path: Path, trained: Path) -> None:
    good = tmp_path / "a" / "last.ckpt"
    good.parent.mkdir()
    good.write_bytes(trained.read_bytes())
    broken = tmp_path / "b" / "last.ckpt"
    broken.parent.mkdir()
    _truncated(trained, broken)  # newer than the good one
    with pytest.warns(UserWarning, match=r"skipping .*b/last\.ckpt: .*truncated"):
        assert find_last_checkpoint(tmp_path) == good
    assert find_last_checkpoint(tmp_path / "nothing-here") is None


SAVE_LOOP = """
import sys, torch
from liftpool_lightning.checkpointing import AtomicCheckpointIO
io, i = AtomicCheckpointIO(), 0
while True:
    i += 1
    io.save_checkpoint({"state_dict": {"w": torch.full((12_000_000,), float(i))}, "i": i}, sys.argv[1])
    print(i, flush=True)
"""


def test_a_kill_during_checkpoint_writes_never_leaves_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    for attempt in range(3):  # SIGKILL at different moments of a stream of 48 MB writes
        process = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(path)], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        process.stdout.readline()  # one complete save
        time.sleep(0.15 * (attempt + 1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        checkpoint = torch.load(path, weights_only=True)  # complete and readable after every kill
        assert torch.equal(checkpoint["state_dict"]["w"], torch.full((12_000_000,), float(checkpoint["i"])))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.ckpt"]
    assert all(name.startswith(".last.ckpt.partial-") for name in leftovers)  # at most the killed write's temp file


def test_the_cli_adds_atomic_writes_and_the_fault_callbacks(tmp_path: Path) -> None:
    from liftpool_lightning.callbacks import PreemptionCheckpoint, RNGStateCheckpoint, StopOnNonFiniteLoss
    from liftpool_lightning.checkpointing import AtomicCheckpointIO
    from liftpool_lightning.cli_lightning import run_lightning_cli

    cli = run_lightning_cli(["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path), "--trainer.fast_dev_run=1"])
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    kinds = [type(callback) for callback in cli.trainer.callbacks]
    assert {PreemptionCheckpoint, RNGStateCheckpoint, StopOnNonFiniteLoss} <= set(kinds)


def test_resuming_with_another_optimizer_is_one_line_before_training(tmp_path: Path, trained: Path) -> None:
    args = ["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path), "--trainer.max_epochs=2",
            "--model.init_args.pool=max", f"--ckpt_path={trained}", "--model.init_args.optimizer=torch.optim.SGD",
            "--model.init_args.optimizer.lr=0.1"]  # fmt: skip
    result = run_subprocess(args, cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        "liftpool: error: the checkpoint's optimizer state is of torch.optim.AdamW, the given optimizer is "
        "torch.optim.sgd.SGD, which needs dampening, momentum, nesterov in its state; resume with the optimizer the "
        "checkpoint was trained with (its config.yaml beside its logs names it)"
    ], result.stderr[-3000:]
    assert "Restored all states" not in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing trained, nothing written
    assert not list(tmp_path.glob("lightning_logs/version_*"))  # no run folder holding only a config


def test_a_one_cycle_schedule_shorter_than_the_run_is_one_line_before_training(tmp_path: Path) -> None:
    args = ["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path), "--trainer.max_epochs=100"]  # 600 steps > 496
    result = run_subprocess(args, cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("liftpool: error:")]
    assert errors == [
        "liftpool: error: lr_scheduler OneCycleLR has total_steps=496 but this run takes 600 optimizer steps "
        "(trainer.max_epochs=100, scheduler_interval 'step'); set model.init_args.lr_scheduler.init_args.total_steps "
        "to at least 600 or shorten the run"
    ], result.stderr[-3000:]
    assert not list(tmp_path.rglob("*.ckpt"))
    # the failed run leaves no version_0 holding only its config: the next run is version_0 again
    assert not list(tmp_path.glob("lightning_logs/version_*"))
