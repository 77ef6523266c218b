"""``liftpool fit`` with the GPU presets' precision, on the CPU stand-in for the CUDA branch of the layers (C++
kernels and oneDNN off: ``tests/conftest.py``): a short run trains, the losses stay finite and the checkpoint
reloads, for a LiftDownPool classifier and a SegNet with LiftUpPools."""

from __future__ import annotations

import contextlib
import csv
import math
from pathlib import Path

import pytest
import torch

from liftpool_lightning.cli import main
from liftpool_lightning.nn import LiftDownPoolNd
from liftpool_lightning.tasks import ClassificationTask
from tests.cli.conftest import QUICKSTART, tiny_args


def _logged(run_dir: Path, key: str) -> list[float]:
    rows = csv.DictReader((run_dir / "metrics.csv").open())
    return [float(row[key]) for row in rows if row.get(key)]


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16-true"])
def test_quickstart_fit_on_the_cuda_standin(
    precision: str, tmp_path: Path, cuda_standin: contextlib.AbstractContextManager
) -> None:
    with cuda_standin:
        main(["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path), "--trainer.max_steps=3",
              "--trainer.limit_val_batches=1", f"--trainer.precision={precision}"])  # fmt: skip
    run_dir = tmp_path / "lightning_logs" / "version_0"
    losses = _logged(run_dir, "train/loss_step") + _logged(run_dir, "train/c_p_step")
    assert losses and all(math.isfinite(value) for value in losses)
    task = ClassificationTask.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    layers = [m for m in task.modules() if isinstance(m, LiftDownPoolNd)]
    assert layers
    fresh = ClassificationTask(**task.hparams)
    trained = dict(task.named_parameters())
    changed = [name for name, value in fresh.named_parameters() if "predict" in name and
               not torch.equal(value.float(), trained[name].float())]  # fmt: skip
    assert changed  # P trained in that precision


def test_segnet_with_liftuppool_fits_in_bf16_mixed_on_the_cuda_standin(
    tmp_path: Path, cuda_standin: contextlib.AbstractContextManager
) -> None:
    with cuda_standin:
        main([
            "fit", "--seed_everything=0", "--trainer.accelerator=cpu", f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false", "--trainer.logger=CSVLogger",
            f"--trainer.logger.save_dir={tmp_path}", "--trainer.max_steps=2", "--trainer.limit_val_batches=1",
            "--trainer.precision=bf16-mixed", "--trainer.log_every_n_steps=1", "--model=SegmentationTask",
            "--model.network=segnet_vgg13_bn",
            "--model.pool=lift", "--model.up_pool=lift", "--model.input_size=32", "--data=SyntheticShapesDataModule",
            "--data.task=segmentation", "--data.num_train=4", "--data.num_val=2", "--data.batch_size=2",
            "--data.image_size=32", "--data.num_workers=0",
        ])  # fmt: skip
    losses = _logged(tmp_path / "lightning_logs" / "version_0", "train/loss_step")
    assert losses and all(math.isfinite(value) for value in losses)
