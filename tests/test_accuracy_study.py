"""The accuracy study script (benchmarks/accuracy.py): options, schedule scaling, resuming, and its report."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.accuracy import VARIANTS, main, parse_args, read_metrics, schedule_options, stop_early

REPO = Path(__file__).resolve().parents[1]


def _write_metrics(run_dir: Path, val: list[float], train: list[float]) -> None:
    """A metrics.csv as Lightning's CSVLogger writes it: step rows without epoch metrics, then one row per epoch."""
    folder = run_dir / "lightning_logs" / "version_0"
    folder.mkdir(parents=True)
    columns = ["epoch", "step", "train/loss_step", "val/top1_accuracy", "train/top1_accuracy", "val/c_u", "val/c_p"]
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for epoch, (v, t) in enumerate(zip(val, train, strict=True)):
            writer.writerow({"epoch": epoch, "step": 10 * epoch + 5, "train/loss_step": 1.0})
            writer.writerow({"epoch": epoch, "step": 10 * epoch + 9, "val/top1_accuracy": v, "val/c_u": 0.5,
                             "val/c_p": 0.25})  # fmt: skip
            writer.writerow({"epoch": epoch, "step": 10 * epoch + 9, "train/top1_accuracy": t})


def test_unknown_variant_and_an_empty_grid_are_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--variants", "lift_nonsense"])
    assert "unknown variant 'lift_nonsense'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--variants"])
    assert "no variant to train" in capsys.readouterr().err
    args = parse_args(["--variants", "--custom", "wide=--model.init_args.pool max"])
    assert args.variant_args == {"wide": ["--model.init_args.pool", "max"]}


def test_every_lift_variant_names_its_pool_options() -> None:
    for name, options in VARIANTS.items():
        task_option = ("lift_paper", "lift_no_constraints", "lift_bilinear", "lift_pool_lr_x10", "lift_pool_lr_x0.1")
        if name.startswith("lift_") and name not in task_option:  # those change the task's options, not the layer's
            assert "--model.init_args.pool_options" in options, name


def test_epochs_scale_the_one_cycle_schedule() -> None:
    config = REPO / "configs" / "quickstart.yaml"
    assert schedule_options(config, None) == ([], 8)
    options, epochs = schedule_options(config, 16)
    assert epochs == 16
    assert options == ["--trainer.max_epochs", "16", "--model.init_args.lr_scheduler.init_args.total_steps", "992"]


def test_a_screen_keeps_the_schedule_and_stops_early(tmp_path, capsys) -> None:
    config = REPO / "configs" / "quickstart.yaml"
    assert stop_early(*schedule_options(config, None), 3) == (["--trainer.max_epochs", "3"], 3)
    options, epochs = stop_early(*schedule_options(config, 16), 5)
    assert epochs == 5
    assert options == ["--model.init_args.lr_scheduler.init_args.total_steps", "992", "--trainer.max_epochs", "5"]
    assert stop_early(["--trainer.max_epochs", "8"], 8, 8) == (["--trainer.max_epochs", "8"], 8)
    _write_metrics(tmp_path / "runs" / "max" / "seed_1", [0.2, 0.3, 0.6], [0.2, 0.4, 0.7])
    main(["--variants", "max", "--seeds", "1", "--stop-after", "3", "--output", str(tmp_path), "--report-only"])
    table = (tmp_path / "results.md").read_text()
    assert table.startswith("Validation top-1 (%) after epoch 3 of the 8-epoch schedule")
    assert "| max | 60.0 +- 0.0 | 1 | 60.0 | 20.0 | +0.0 |" in table
    with pytest.raises(SystemExit):
        parse_args(["--stop-after", "0"])
    assert "--stop-after must be >= 1" in capsys.readouterr().err


def test_report_tabulates_finished_seeds_and_keeps_finished_runs(tmp_path, capsys, monkeypatch) -> None:
    _write_metrics(tmp_path / "runs" / "max" / "seed_0", [0.2, 0.5, 0.9], [0.2, 0.6, 0.95])
    _write_metrics(tmp_path / "runs" / "max" / "seed_1", [0.1, 0.4, 0.8], [0.1, 0.5, 0.9])
    _write_metrics(tmp_path / "runs" / "lift" / "seed_0", [0.3, 0.6, 0.85], [0.3, 0.7, 0.9])
    _write_metrics(tmp_path / "runs" / "lift" / "seed_1", [0.3, 0.6], [0.3, 0.7])  # unfinished
    assert [round(m["val_top1"], 6) for m in read_metrics(tmp_path / "runs" / "max" / "seed_0")] == [20, 50, 90]

    main(["--variants", "max", "lift", "--seeds", "0", "1", "--epochs", "3", "--output", str(tmp_path),
          "--report-only"])  # fmt: skip
    table = (tmp_path / "results.md").read_text()
    assert "| max | 85.0 +- 7.1 | 2 | 90.0 / 80.0 | 20.0 / 10.0 | +0.0 |" in table
    assert "| lift | 85.0 +- 0.0 | 1 | 85.0 | 30.0 | +0.0 |" in table
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 + 3 + 3 + 2
    assert {r["val_c_p"] for r in rows} == {"0.25"}
    assert (tmp_path / "val_accuracy.png").stat().st_size > 1000
    capsys.readouterr()

    # a run that holds every epoch is kept, not trained again: no CLI process may start
    def no_training(*args, **kwargs):
        raise AssertionError(f"a finished run was trained again: {args}")

    monkeypatch.setattr("benchmarks.accuracy.subprocess.run", no_training)
    main(["--variants", "max", "--seeds", "0", "1", "--epochs", "3", "--output", str(tmp_path)])
    assert "[max seed 0] done before, kept" in capsys.readouterr().out


@pytest.mark.slow
def test_a_tiny_study_trains_through_the_cli(tmp_path) -> None:
    extra = ("--data.init_args.num_train 64 --data.init_args.num_val 32 --data.init_args.batch_size 32 "
             "--trainer.callbacks null --trainer.limit_train_batches 2")  # fmt: skip
    command = [sys.executable, str(REPO / "benchmarks" / "accuracy.py"), "--variants", "max", "lift",
               "--seeds", "0", "--epochs", "2", "--extra", extra, "--output", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["variant"], r["epoch"]) for r in rows] == [("max", "0"), ("max", "1"), ("lift", "0"), ("lift", "1")]
    assert all(0 <= float(r["val_top1"]) <= 100 for r in rows)
    assert rows[2]["val_c_p"] and not rows[0]["val_c_p"]  # only LiftPool logs its constraint losses
    assert "| lift |" in (tmp_path / "results.md").read_text()


def test_a_custom_variant_takes_yaml_values_with_or_without_inner_quotes() -> None:
    from benchmarks.accuracy import custom_options

    expected = ["--model.init_args.pool", "lift", "--model.init_args.pool_options", "{kernel_size: 7}"]
    assert custom_options("--model.init_args.pool lift --model.init_args.pool_options {kernel_size: 7}") == expected
    assert custom_options("--model.init_args.pool lift --model.init_args.pool_options '{kernel_size: 7}'") == expected
    assert custom_options("--model.init_args.pool_options={bands: [hh], activation: identity} --flag") == [
        "--model.init_args.pool_options={bands: [hh], activation: identity}",
        "--flag",
    ]
    args = parse_args(["--variants", "--custom", "k7=--model.init_args.pool_options {kernel_size: 7}"])
    assert args.variant_args == {"k7": ["--model.init_args.pool_options", "{kernel_size: 7}"]}


def test_every_documented_custom_variant_gives_the_cli_a_mapping() -> None:
    import re

    import yaml

    from benchmarks.accuracy import REPO, custom_options

    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    found = [m for page in pages for m in re.findall(r'--custom "([^"=]+)=([^"]+)"', page.read_text())]
    assert found, "no documented --custom variant found"
    for name, text in found:
        arguments = custom_options(text)
        values = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--model.init_args.pool_options"]
        assert all(isinstance(yaml.safe_load(value), dict) for value in values), (name, arguments)
