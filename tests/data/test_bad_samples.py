"""Bad data files: ``liftpool check-data`` finds them all before training; during training one line names the file
after a checkpoint keeps the finished work, or the sample is skipped and counted when asked for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from liftpool_lightning.cli import main
from liftpool_lightning.data.sample_guard import BadSampleError, SampleGuard
from tests.cli.conftest import QUICKSTART, run_subprocess
from tests.data.imagenet import CLASSES, make_imagenet
from tests.data.voc import VOC_TRAIN, make_voc, write_palette_png


class _Flaky(Dataset):
    """Items 0..n-1; the ones in ``bad`` raise naming a made-up file."""

    def __init__(self, n: int, bad: set[int]) -> None:
        self.n, self.bad, self.names = n, bad, [f"item{i}" for i in range(n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        if index in self.bad:
            raise OSError(f"cannot decode image /data/{index}.jpg: truncated")
        return torch.tensor(index)


def test_guard_names_split_index_and_file_also_through_a_worker() -> None:
    guard = SampleGuard(_Flaky(6, {3}), "train")
    assert guard.names[2] == "item2"  # the dataset's own attributes pass through
    with pytest.raises(BadSampleError, match=r"^train sample 3: cannot decode image /data/3\.jpg: truncated$"):
        guard[3]
    with pytest.raises(BadSampleError) as caught:
        list(DataLoader(guard, batch_size=2, num_workers=1))
    assert str(caught.value) == "train sample 3: cannot decode image /data/3.jpg: truncated"  # one line
    assert "Traceback" in caught.value.worker_traceback


def test_guard_skips_to_the_next_good_sample_and_counts_over_workers(capfd) -> None:
    guard = SampleGuard(_Flaky(8, {1, 2, 6}), "val", skip=True, num_workers=2)
    values = [int(v) for batch in DataLoader(guard, batch_size=2, num_workers=2) for v in batch]
    assert values == [0, 3, 3, 3, 4, 5, 7, 7]  # 1 and 2 replaced by 3 (2 fails too while replacing 1), 6 by 7
    assert guard.skipped_count == 4  # 1, 2 (tried for 1), 2, 6
    assert capfd.readouterr().err.count("liftpool: skipped val sample") == 4


@pytest.fixture
def imagenet(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny ImageNet tree (9 train, 6 val images) and a config training the quickstart model on it."""
    root = make_imagenet(tmp_path / "imagenet")
    config = tmp_path / "imagenet.yaml"
    config.write_text(
        "data:\n  class_path: ImageNetDataModule\n  init_args:\n"
        f"    root: {root}\n    batch_size: 3\n    num_workers: 0\n    image_size: 32\n"
    )
    return root, config


def _truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:200])
    return path


def _fit(tmp_path: Path, config: Path, *extra: str) -> list[str]:
    return ["fit", "--config", str(QUICKSTART), "--config", str(config), f"--trainer.default_root_dir={tmp_path}",
            f"--trainer.logger.init_args.save_dir={tmp_path}", "--trainer.enable_progress_bar=false",
            "--trainer.max_epochs=2", *extra]  # fmt: skip


def test_check_data_reports_every_bad_file_at_once(imagenet: tuple[Path, Path], tmp_path: Path) -> None:
    root, config = imagenet
    bad_train = _truncate(root / "train" / CLASSES[1] / f"{CLASSES[1]}_0.JPEG")
    bad_val = _truncate(root / "val" / CLASSES[2] / "ILSVRC2012_val_00000005.JPEG")
    result = subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", "check-data", "--config", str(QUICKSTART), "--config",
         str(config), "--workers", "2"], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    problems = [line for line in result.stderr.splitlines() if line.startswith("liftpool check-data: ")]
    assert len(problems) == 3, result.stderr[-2000:]
    assert re.search(rf"train sample \d+: OSError: cannot decode image {re.escape(str(bad_train))}", problems[0])
    assert re.search(rf"val sample \d+: OSError: cannot decode image {re.escape(str(bad_val))}", problems[1])
    assert problems[2].endswith("ImageNetDataModule: 2 problem(s) (samples checked: train 9, val 6)")


def test_check_data_finds_an_invalid_mask_label(tmp_path: Path) -> None:
    from liftpool_lightning.data.check import check_data
    from liftpool_lightning.data.voc import VOCSegmentationDataModule

    mask_path = make_voc(tmp_path) / "SegmentationClass" / f"{VOC_TRAIN[1]}.png"
    mask = np.array(Image.open(mask_path))
    mask[4, 4] = 40
    write_palette_png(mask, mask_path)
    data = VOCSegmentationDataModule(str(tmp_path), crop_size=32, batch_size=2, num_workers=0)
    report = check_data(data, workers=0, progress=False)
    (problem,) = report.problems
    assert problem.split == "train"
    assert f"mask {mask_path} holds labels [40] outside 0..20 and 255" in problem.message
    assert report.checked["train"] == len(VOC_TRAIN)


def test_check_data_passes_good_data(imagenet: tuple[Path, Path]) -> None:
    from liftpool_lightning.data.check import check_data
    from liftpool_lightning.data.imagenet import ImageNetDataModule

    report = check_data(ImageNetDataModule(str(imagenet[0]), num_workers=0, image_size=32), progress=False)
    assert report.ok and report.checked == {"train": 9, "val": 6}


def test_bad_training_image_stops_with_one_line_after_a_checkpoint(imagenet: tuple[Path, Path], tmp_path: Path):
    root, config = imagenet
    bad = _truncate(root / "train" / CLASSES[0] / f"{CLASSES[0]}_2.JPEG")
    with pytest.raises(BadSampleError) as caught:
        main(_fit(tmp_path, config))
    message = str(caught.value)
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert re.match(rf"train sample \d+: cannot decode image {re.escape(str(bad))}: ", message)
    assert f"checkpoint saved to {last} (epoch 0, step " in message and "--ckpt_path last" in message
    assert "\n" not in message
    saved = torch.load(last, weights_only=True)
    assert saved["epoch"] == 0 and saved["global_step"] < 3


def test_bad_validation_image_keeps_the_training_epoch(imagenet: tuple[Path, Path], tmp_path: Path) -> None:
    root, config = imagenet
    bad = _truncate(root / "val" / CLASSES[1] / "ILSVRC2012_val_00000003.JPEG")
    with pytest.raises(BadSampleError, match=rf"^val sample \d+: cannot decode image {re.escape(str(bad))}"):
        main(_fit(tmp_path, config, "--trainer.num_sanity_val_steps=0"))
    saved = torch.load(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 3  # the training epoch (9 images, batch 3) is kept


def test_skip_bad_samples_trains_through_and_counts(imagenet: tuple[Path, Path], tmp_path: Path, capfd) -> None:
    root, config = imagenet
    _truncate(root / "train" / CLASSES[0] / f"{CLASSES[0]}_1.JPEG")
    _truncate(root / "val" / CLASSES[2] / "ILSVRC2012_val_00000006.JPEG")
    main(_fit(tmp_path, config, "--data.init_args.skip_bad_samples=true", "--trainer.num_sanity_val_steps=0"))
    err = capfd.readouterr().err
    assert err.count("liftpool: skipped train sample") == 2 and err.count("liftpool: skipped val sample") == 2
    assert "liftpool: skipped 4 bad sample(s) in this run" in err
    saved = torch.load(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 6


def test_the_console_command_prints_one_line(imagenet: tuple[Path, Path], tmp_path: Path) -> None:
    root, config = imagenet
    _truncate(root / "train" / CLASSES[2] / f"{CLASSES[2]}_0.JPEG")
    result = run_subprocess(_fit(tmp_path, config), cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("liftpool: error: train sample")]
    assert len(errors) == 1 and "checkpoint saved to" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def test_resuming_after_a_validation_error_runs_that_validation(imagenet: tuple[Path, Path], tmp_path: Path) -> None:
    """The interrupted epoch's validation runs in full on resume: its metrics are logged and the best-by-validation
    checkpoint of that epoch is written, before the next epoch trains; the epoch's training metrics were logged by
    the run that failed."""
    root, config = imagenet
    bad = root / "val" / CLASSES[1] / "ILSVRC2012_val_00000003.JPEG"
    good = bad.read_bytes()
    _truncate(bad)
    args = _fit(tmp_path, config, "--trainer.num_sanity_val_steps=0", "--trainer.max_epochs=1")
    with pytest.raises(BadSampleError):
        main(args)
    bad.write_bytes(good)  # fixed
    main([*args, "--ckpt_path=last"])
    metrics = (tmp_path / "lightning_logs" / "version_1" / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in metrics[1:]]
    validated = [row for row in rows if row.get("val/top1_error")]
    assert [(row["epoch"], row["step"]) for row in validated] == [("0", "2")]  # epoch 0, after its 3 steps
    assert 0.0 <= float(validated[0]["val/top1_error"]) <= 1.0
    assert not [row for row in rows if row.get("train/loss_epoch")]  # logged by the failed run, not twice
    failed = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()
    header = failed[0].split(",")
    trained = [
        row for line in failed[1:] if (row := dict(zip(header, line.split(","), strict=True)))["train/loss_epoch"]
    ]
    assert [(row["epoch"], row["step"], bool(row["train/top1_accuracy"])) for row in trained] == [("0", "2", True)]
    best = list((tmp_path / "lightning_logs").rglob("epoch=0-step=3.ckpt"))
    assert len(best) == 1


def test_a_setup_failure_is_reported_once_naming_every_split_it_stops(tmp_path: Path) -> None:
    from liftpool_lightning.data import SyntheticShapesDataModule
    from liftpool_lightning.data.check import check_data

    class Missing(SyntheticShapesDataModule):
        def setup(self, stage: str) -> None:
            raise FileNotFoundError(f"{tmp_path / 'VOC2012'} does not exist")

    report = check_data(Missing(num_train=8, num_val=8), progress=False)
    assert [str(problem) for problem in report.problems] == [
        f"train, val, test, predict (setup): FileNotFoundError: {tmp_path / 'VOC2012'} does not exist"
    ]
    assert report.checked == {}


def test_check_data_on_missing_data_says_nothing_was_checked(tmp_path: Path) -> None:
    config = tmp_path / "imagenet.yaml"
    config.write_text(f"data:\n  class_path: ImageNetDataModule\n  init_args:\n    root: {tmp_path / 'nowhere'}\n")
    result = run_subprocess(["check-data", "--config", str(config), "--workers", "0"], cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()  # nothing but the report: no Lightning warning, no "seed set" lines
    assert len(lines) == 2 and lines[0].startswith("liftpool check-data: prepare_data: FileNotFoundError: ImageNet ")
    assert str(tmp_path / "nowhere") in lines[0], result.stderr[-2000:]
    assert lines[1] == "liftpool check-data: ImageNetDataModule: 1 problem(s) (samples checked: none)"


def test_check_data_without_a_config_is_one_line(tmp_path: Path) -> None:
    result = run_subprocess(["check-data"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "liftpool check-data: error: give the config whose data to check: liftpool check-data --config CONFIG.yaml "
        "[--workers N] (--help lists the options)"
    ]


def test_check_data_option_mistakes_are_the_training_commands_short_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    for option, first in [
        ("--data.init_args.batchsize=3", "liftpool: error: --data.init_args.batchsize: SyntheticShapesDataModule has "
         "no option 'batchsize'; did you mean batch_size?"),
        ("--workerz=2", "liftpool: error: --workerz: no such option; did you mean --workers?"),
    ]:  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            main(["check-data", "--config", str(QUICKSTART), option])
        assert exited.value.code == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert lines[0] == first and len(lines) == 2, lines
    assert lines[1] == "(liftpool check-data --help lists the options)"
