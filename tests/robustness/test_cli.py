"""``liftpool test --config configs/robustness/synthetic.yaml`` on a tiny trained checkpoint: the table, the files,
numbers that agree with ``liftpool validate``, a baseline run normalising to exactly 1, bad input, DDP."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from liftpool_lightning.cli import main
from tests.cli.conftest import QUICKSTART, ROOT, run_subprocess, tiny_args

CONFIG = ROOT / "configs" / "robustness" / "synthetic.yaml"
SMALL = [
    "--data.init_args.num_images=16",
    "--data.init_args.batch_size=8",
    "--data.init_args.corruptions=[gaussian_noise, contrast]",
    "--data.init_args.severities=[1, 5]",
    "--data.init_args.perturbations=[translate, gaussian_noise]",
    "--trainer.enable_progress_bar=false",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trained")
    main(["fit", "--config", str(QUICKSTART), *tiny_args(root), "--trainer.max_epochs=1"])
    return root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"


def evaluate(root: Path, checkpoint: Path, *extra: str) -> dict:
    paths = [f"--trainer.default_root_dir={root}", f"--trainer.logger.init_args.save_dir={root}"]
    main(["test", "--config", str(CONFIG), f"--model.init_args.checkpoint={checkpoint}", *paths, *SMALL, *extra])
    (results,) = root.rglob("results.json")
    return json.loads(results.read_text())


def test_robustness_evaluation_writes_table_files_and_chart(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = evaluate(tmp_path, checkpoint)
    assert set(results["corruption_errors"]) == {"gaussian_noise", "contrast"}
    assert set(results["corruption_errors"]["contrast"]) == {"1", "5"}
    assert set(results["flip_probabilities"]) == {"translate", "gaussian_noise"}
    values = [results["clean_error"], results["shift_consistency"], *results["flip_probabilities"].values()]
    assert all(0 <= v <= 1 for v in values)
    assert all(v * 16 == round(v * 16) for v in [results["clean_error"], results["shift_consistency"]])  # 16 images
    summary = results["summary"]
    assert summary["mean_unnormalized_ce"] == pytest.approx(
        sum(sum(by.values()) / 2 for by in results["corruption_errors"].values()) / 2
    )
    folder = next(tmp_path.rglob("results.json")).parent
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert len([r for r in rows if r["kind"] == "corruption"]) == 4
    assert len(list(folder.parent.glob("images/robustness_errors_step*.png"))) == 1
    metrics = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    assert float(metrics[-1]["robustness/clean_error"]) == pytest.approx(results["clean_error"])
    printed = capsys.readouterr().out
    assert "clean error" in printed and "gaussian_noise" in printed and "shift consistency" in printed

    # the clean error is the validation error of the same 16 images
    main(["validate", "--config", str(QUICKSTART), *tiny_args(tmp_path / "validate"), f"--ckpt_path={checkpoint}"])
    validation = list(csv.DictReader(next((tmp_path / "validate").rglob("metrics.csv")).open()))
    assert float(validation[-1]["val/top1_error"]) == pytest.approx(results["clean_error"])

    # normalised by a baseline that is this same model, every CE and FR is exactly 1
    again = evaluate(tmp_path / "again", checkpoint, f"--model.init_args.baseline={folder / 'results.json'}")
    assert again["summary"]["baseline_mce"] == pytest.approx(1.0)
    for name, probability in results["flip_probabilities"].items():  # FR is undefined (null) where FP is 0
        assert again["summary"]["baseline_fr"][name] == (pytest.approx(1.0) if probability > 0 else None)


def test_checkpoint_and_data_must_agree(tmp_path: Path, checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="predicts 8 classes, the evaluation data has 4"):
        evaluate(tmp_path, checkpoint, "--data.init_args.num_shapes=4")
    with pytest.raises(ValueError, match=r"baseline results .*missing\.json do not exist"):
        evaluate(tmp_path, checkpoint, f"--model.init_args.baseline={tmp_path / 'missing.json'}")


@pytest.mark.slow
def test_two_ddp_processes_give_the_single_process_numbers(tmp_path: Path, checkpoint: Path) -> None:
    single = evaluate(tmp_path / "one", checkpoint, "--data.init_args.num_images=15")  # odd: uneven shards
    paths = [
        f"--trainer.default_root_dir={tmp_path / 'two'}",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'two'}",
    ]
    args = ["test", "--config", str(CONFIG), f"--model.init_args.checkpoint={checkpoint}", *SMALL, *paths,
            "--data.init_args.num_images=15", "--trainer.devices=2", "--trainer.strategy=ddp"]  # fmt: skip
    result = run_subprocess(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = (tmp_path / "two").rglob("results.json")
    double = json.loads(path.read_text())
    for key in ("clean_error", "shift_consistency", "flip_probabilities"):
        assert double[key] == pytest.approx(single[key]), key
    for name, by_severity in single["corruption_errors"].items():
        assert double["corruption_errors"][name] == pytest.approx(by_severity), name


@pytest.mark.parametrize("name", ["cifar100_c.yaml", "imagenet_c.yaml"])
def test_shipped_robustness_configs_parse(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--config", str(CONFIG.parent / name), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"].endswith("RobustnessTask")
    assert printed["data"]["init_args"]["corruption_root"].startswith("data/")
