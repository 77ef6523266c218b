"""SubbandVisualizer in real fits: with CSV, TensorBoard, W&B (offline) and no logger; segmentation; no LiftPool."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import wandb
from lightning import Trainer
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from PIL import Image

from liftpool_lightning.callbacks import SubbandVisualizer
from liftpool_lightning.callbacks.figures import subband_figure
from liftpool_lightning.data import SyntheticShapesDataModule
from liftpool_lightning.tasks import ClassificationTask, SegmentationTask


def _fit(tmp_path: Path, logger, task=None, data=None, callback=None, epochs: int = 2) -> Trainer:
    data = data or SyntheticShapesDataModule(num_train=16, num_val=4, batch_size=8)
    task = task or ClassificationTask("small_vgg", num_classes=data.num_classes, pool="lift")
    trainer = Trainer(
        max_epochs=epochs,
        default_root_dir=tmp_path,
        logger=logger,
        callbacks=[callback or SubbandVisualizer(num_images=2, channels=[0])],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(task, data)
    return trainer


def _pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("**/*.png"))


def test_csv_logger_gets_pngs_losses_table_and_per_layer_scalars(tmp_path: Path) -> None:
    trainer = _fit(tmp_path, CSVLogger(tmp_path))
    images = Path(trainer.log_dir) / "images"
    pngs = _pngs(images)
    assert [p.name for p in pngs] == [
        "subbands_network.features.6_val_step0000002.png",
        "subbands_network.features.6_val_step0000004.png",
    ]  # one per epoch, same fixed images
    picture = Image.open(pngs[0])
    picture.verify()
    assert picture.size[0] > 600 and picture.size[1] > 200
    rows = list(csv.DictReader((images / "lifting_losses.csv").open()))
    assert [r["layer"] for r in rows[:3]] == ["network.features.6", "network.features.13", "network.features.20"]
    assert all(float(r["c_u"]) >= 0 and float(r["c_p"]) >= 0 for r in rows)
    metrics = list(csv.DictReader((Path(trainer.log_dir) / "metrics.csv").open()))
    assert any(r.get("lifting/network.features.13/c_p") for r in metrics)


def test_tensorboard_logger_gets_the_images(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = _fit(tmp_path, TensorBoardLogger(tmp_path), epochs=1)
    events = EventAccumulator(str(trainer.log_dir), size_guidance={"images": 0})
    events.Reload()
    assert "subbands/network.features.6" in events.Tags()["images"]
    assert len(_pngs(Path(trainer.log_dir) / "images")) == 1


def _wandb_records(folder: Path, wanted: bytes = b"lifting/", wait_s: float = 60.0) -> bytes:
    """The bytes of the offline run's ``.wandb`` record log. W&B's writer (a separate service process) may still be
    flushing it when ``wandb.finish()`` returns on a busy machine (seen in CI: the header alone), so wait until the
    log holds ``wanted`` or ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        records = b"".join(p.read_bytes() for p in folder.glob("*.wandb"))
        if wanted in records or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def test_wandb_offline_run_holds_the_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="liftpool-test", save_dir=str(tmp_path))
    try:
        _fit(tmp_path, logger, epochs=1)
        run_dir = Path(logger.experiment.dir)
    finally:
        wandb.finish()
    media = sorted((run_dir / "media" / "images").glob("**/*.png"))
    assert media, "W&B stored no image"
    assert len(_pngs(run_dir / "images")) == 1  # our own copy in the run's files
    table = sorted((run_dir / "media" / "table").glob("**/*.json"))
    assert table, "W&B stored no loss table"
    records = _wandb_records(run_dir.parent)  # the offline run's record log
    assert b"val/top1_error" in records and b"lifting/network.features.6/c_u" in records  # the metrics are in it


def test_no_logger_still_writes_pngs(tmp_path: Path) -> None:
    _fit(tmp_path, False, epochs=1)
    assert len(_pngs(tmp_path / "images")) == 1


def test_segmentation_with_up_pooling_draws_predictions_and_reconstructions(tmp_path: Path) -> None:
    data = SyntheticShapesDataModule(task="segmentation", num_train=8, num_val=2, batch_size=4)
    task = SegmentationTask("segnet_vgg13_bn", num_classes=data.num_classes, pool="lift", input_size=32)
    trainer = _fit(tmp_path, CSVLogger(tmp_path), task=task, data=data, epochs=1)
    names = [p.name for p in _pngs(Path(trainer.log_dir) / "images")]
    assert names == [
        "reconstruction_network.pools.0.pool_val_step0000002.png",
        "segmentation_predictions_val_step0000002.png",
        "subbands_network.pools.0.pool_val_step0000002.png",
    ]


def test_model_without_liftpool_gets_a_message_not_a_crash(tmp_path: Path) -> None:
    data = SyntheticShapesDataModule(num_train=16, num_val=4, batch_size=8)
    task = ClassificationTask("small_vgg", num_classes=8, pool=None)
    with pytest.warns(UserWarning, match="has no LiftDownPool layer"):
        trainer = _fit(tmp_path, CSVLogger(tmp_path), task=task, data=data, epochs=1)
    assert not _pngs(Path(trainer.log_dir))


def test_validate_and_test_draw_too(tmp_path: Path) -> None:
    data = SyntheticShapesDataModule(num_train=16, num_val=4, batch_size=8)
    task = ClassificationTask("small_vgg", num_classes=8, pool="wavelet")
    trainer = Trainer(default_root_dir=tmp_path, logger=False, callbacks=[SubbandVisualizer(num_images=1)],
                      enable_progress_bar=False)  # fmt: skip
    trainer.validate(task, data, verbose=False)
    trainer.test(task, data, verbose=False)
    assert [p.name for p in _pngs(tmp_path / "images")] == [
        "subbands_network.features.6_test_step0000000.png",
        "subbands_network.features.6_validate_step0000000.png",
    ]


def test_unknown_layer_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"network\.nope are not LiftDownPool layers"):
        _fit(tmp_path, False, callback=SubbandVisualizer(layers=["network.nope"]), epochs=1)


def test_subband_figure_shares_one_scale_per_band() -> None:
    images = torch.rand(2, 3, 8, 8)
    features = torch.randn(2, 4, 8, 8)
    bands = {name: torch.randn(2, 4, 4, 4) for name in ("ll", "lh", "hl", "hh")}
    picture = subband_figure(images, features, bands, [0, 3], "title", maxpool=torch.randn(2, 4, 4, 4))
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    assert picture.shape[0] > picture.shape[1] / 2  # four rows (2 images x 2 channels) of seven panels
    with pytest.raises(ValueError, match="every_n_epochs"):
        SubbandVisualizer(every_n_epochs=0)


def test_visualize_command_draws_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from liftpool_lightning.cli import main

    trainer = _fit(tmp_path, False, epochs=1)
    checkpoint = tmp_path / "model.ckpt"
    trainer.save_checkpoint(checkpoint)
    image = tmp_path / "shape.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "pictures"
    assert main(["visualize", "--ckpt_path", str(checkpoint), "--image", str(image), str(image),
                 "--output", str(out), "--layers", "network.features.13"]) == 0  # fmt: skip
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == ["subbands_network.features.13.png"]
    Image.open(files[0]).verify()
    assert str(files[0]) in capsys.readouterr().out
    assert main(["visualize", "--ckpt_path", str(image), "--image", str(image)]) == 1
    (line,) = capsys.readouterr().err.splitlines()  # one line, without torch's "weights_only=False" advice
    assert "is not a readable checkpoint: not a torch file" in line and "weights_only=False" not in line
    assert main(["visualize", "--ckpt_path", str(checkpoint), "--image", str(tmp_path / "none.png")]) == 1
    assert "none.png does not exist" in capsys.readouterr().err


def test_several_loggers_at_once(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    csv_logger, tb_logger = CSVLogger(tmp_path / "csv"), TensorBoardLogger(tmp_path / "tb")
    _fit(tmp_path, [csv_logger, tb_logger], epochs=1)
    assert len(_pngs(Path(csv_logger.log_dir) / "images")) == 1  # the first logger's folder holds the files
    events = EventAccumulator(str(tb_logger.log_dir), size_guidance={"images": 0})
    events.Reload()
    assert "subbands/network.features.6" in events.Tags()["images"]
