"""The quickstart path through the CLI: fit, then test / validate / predict from the checkpoint, on tiny data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from liftpool_lightning.cli import main
from liftpool_lightning.tasks import ClassificationTask, SegmentationTask
from tests.cli.conftest import QUICKSTART, ROOT, tiny_args

QUICKSTART_SEGMENTATION = ROOT / "configs" / "quickstart_segmentation.yaml"


def _fit(root: Path, *extra: str) -> Path:
    main(["fit", "--config", str(QUICKSTART), *tiny_args(root),
          "--trainer.max_epochs=2", *extra])  # fmt: skip
    return root / "lightning_logs" / "version_0"


def test_fit_writes_config_metrics_and_checkpoints_then_test_and_predict_reload(tmp_path: Path) -> None:
    run_dir = _fit(tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"]["class_path"] == "liftpool_lightning.tasks.ClassificationTask"
    assert config["model"]["init_args"]["pool"] == "lift"
    last = run_dir / "checkpoints" / "last.ckpt"
    assert last.is_file()
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    logged = {key for row in rows for key, value in row.items() if value}
    for key in ("train/loss_step", "train/task_loss_step", "train/c_u_step", "train/c_p_step", "train/lr",
                "val/top1_error", "val/top5_error", "val/top1_accuracy", "val/c_u", "val/lifting_loss"):  # fmt: skip
        assert key in logged, key
    errors = [float(row["val/top1_error"]) for row in rows if row.get("val/top1_error")]
    assert len(errors) == 2 and all(0 <= e <= 1 for e in errors)

    task = ClassificationTask.load_from_checkpoint(last)  # everything needed to rebuild is in the checkpoint
    assert task.hparams.network == "small_vgg" and task.hparams.num_classes == 8
    state = torch.load(last, weights_only=True)["state_dict"]
    torch.testing.assert_close(task.state_dict()["network.features.6.predict.weight"],
                               state["network.features.6.predict.weight"])  # fmt: skip

    main(["test", "--config", str(QUICKSTART), *tiny_args(tmp_path),
          f"--ckpt_path={last}"])  # fmt: skip
    main(["validate", "--config", str(QUICKSTART), *tiny_args(tmp_path),
          f"--ckpt_path={last}"])  # fmt: skip
    out = tmp_path / "predictions"
    main(["predict", "--config", str(QUICKSTART), *tiny_args(tmp_path),
          f"--ckpt_path={last}", f"--model.prediction_dir={out}"])  # fmt: skip
    rows = list(csv.DictReader((out / "predictions-rank0.csv").open()))
    assert len(rows) == 16 and rows[0]["name"] == "val_000000"
    assert all(0 <= int(r["class"]) < 8 and 0 < float(r["probability"]) <= 1 for r in rows)


def test_a_second_run_in_the_same_directory_does_not_abort(tmp_path: Path) -> None:
    _fit(tmp_path, "--trainer.max_steps=1", "--trainer.limit_val_batches=1")
    main(["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path),
          "--trainer.max_steps=1", "--trainer.limit_val_batches=1"])  # fmt: skip
    assert (tmp_path / "lightning_logs" / "version_1" / "config.yaml").is_file()


def test_segmentation_quickstart_fits_tests_and_predicts_palette_pngs(tmp_path: Path) -> None:
    """configs/quickstart_segmentation.yaml, tiny: the up-pools paired, the edge metric logged, the pictures drawn."""
    tiny = [*tiny_args(tmp_path), "--data.num_train=16", "--data.num_val=8", "--data.batch_size=8",
            "--data.image_size=32"]  # fmt: skip
    main(["fit", "--config", str(QUICKSTART_SEGMENTATION), *tiny, "--trainer.max_epochs=2"])
    run_dir = tmp_path / "lightning_logs" / "version_0"
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    for key in ("val/miou", "val/pixel_accuracy", "val/boundary_iou", "train/boundary_iou", "val/c_u"):
        values = [float(r[key]) for r in rows if r.get(key)]
        assert len(values) == 2 and all(v >= 0 for v in values), key
    images = {path.name.rsplit("_val_", 1)[0] for path in (run_dir / "images").glob("*.png")}
    assert {
        "segmentation_predictions",
        "subbands_network.pools.0.pool",
        "reconstruction_network.pools.0.pool",
    } <= images
    last = run_dir / "checkpoints" / "last.ckpt"
    task = SegmentationTask.load_from_checkpoint(last)
    assert task.hparams.network == "small_segnet" and task.hparams.num_classes == 9
    assert type(task.network.unpools[0]).__name__ == "LiftUnpool"  # each pool paired with a LiftUpPool
    main(["test", "--config", str(QUICKSTART_SEGMENTATION), *tiny, "--ckpt_path=last"])
    out = tmp_path / "masks"
    main(["predict", "--config", str(QUICKSTART_SEGMENTATION), *tiny, f"--ckpt_path={last}",
          f"--model.prediction_dir={out}"])  # fmt: skip
    files = sorted(out.glob("*.png"))
    assert [f.stem for f in files] == [f"val_{i:06d}" for i in range(8)]
    image = Image.open(files[0])
    assert image.mode == "P" and image.size == (32, 32)
    assert max(image.getdata()) < 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model.init_args.lambda_u=-1"], "lambda_u must be >= 0"),
        (["--model.init_args.pool=maxx"], "unknown pool 'maxx'"),
        (["--model.init_args.network=vgg99"], "unknown network 'vgg99'"),
        (["--model.init_args.pool_options={kernel_size: 0}"], "kernel_size must be >= 1"),
        (["--data.init_args.num_shapes=12"], "num_shapes must be in 2..8"),
    ],
)
def test_bad_values_fail_before_training(tmp_path: Path, args: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        main(["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path), *args])
    assert not (tmp_path / "lightning_logs").exists()  # nothing started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model.init_args.lambda_u=abc"], "lambda_u"),
        (["--trainer.max_epochs=ten"], "max_epochs"),
        (["--model.init_args.no_such_option=1"], "no_such_option"),
        (["--model=NoSuchTask"], "NoSuchTask"),
    ],
)
def test_bad_config_keys_and_types_are_parser_errors(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("model: [unclosed\n", r"bad.yaml is not valid YAML \(line 2, column 1\)"),
        ("- just\n- a list\n", "bad.yaml must hold a mapping of options"),
    ],
)
def test_malformed_yaml_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    with pytest.raises(SystemExit, match=message):
        main(["fit", "--config", str(bad)])
    with pytest.raises(SystemExit, match=r"missing\.yaml does not exist"):
        main(["fit", "--config", str(tmp_path / "missing.yaml")])


def test_console_command_reports_missing_data_in_one_line(tmp_path: Path) -> None:
    from tests.cli.conftest import ROOT, run_subprocess

    missing = tmp_path / "no-cifar-here"
    result = run_subprocess(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "cifar100" / "vgg13_lift.yaml"),
            f"--data.root={missing}",
            "--trainer.accelerator=cpu",
            f"--trainer.default_root_dir={tmp_path}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "liftpool: error:" in result.stderr and str(missing / "cifar-100-python") in result.stderr
    assert "download" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("**/*.ckpt"))
