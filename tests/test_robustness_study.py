"""The robustness-over-seeds script (benchmarks/robustness_study.py): options, normalisation by the MaxPool model of
the same seed, the table, and (slow) a tiny study through the CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.robustness_study import main, parse_args

REPO = Path(__file__).resolve().parents[1]


def _results(folder: Path, clean: float, noise: tuple[float, float], blur: tuple[float, float], flip: float,
             shift: float) -> None:  # fmt: skip
    """A results.json as the evaluation writes it (its own summary too, which the study recomputes)."""
    folder.mkdir(parents=True)
    raw = {"name": folder.name, "clean_error": clean, "shift_consistency": shift,
           "corruption_errors": {"noise": {"1": noise[0], "2": noise[1]}, "blur": {"1": blur[0], "2": blur[1]}},
           "flip_probabilities": {"translate": flip}, "summary": {"baseline_mce": 123.0}}  # fmt: skip
    (folder / "results.json").write_text(json.dumps(raw))


def test_options_need_the_max_pool_baseline_and_known_variants(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--variants", "lift", "blur"])
    assert "must include max" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--variants", "max", "liftt"])
    assert "unknown liftt" in capsys.readouterr().err


def test_scores_are_normalised_by_the_max_pool_model_of_the_same_seed(tmp_path: Path) -> None:
    evals = tmp_path / "eval"
    _results(evals / "max" / "seed_0", 0.10, (0.20, 0.30), (0.30, 0.50), 0.04, 0.90)
    _results(evals / "lift" / "seed_0", 0.10, (0.10, 0.15), (0.30, 0.50), 0.02, 0.95)
    _results(evals / "max" / "seed_1", 0.20, (0.40, 0.60), (0.40, 0.40), 0.10, 0.80)
    _results(evals / "lift" / "seed_1", 0.10, (0.40, 0.60), (0.20, 0.20), 0.05, 0.90)
    main(["--variants", "max", "lift", "--seeds", "0", "1", "--output", str(tmp_path), "--report-only"])
    rows = {(r["variant"], r["seed"]): r for r in csv.DictReader((tmp_path / "results.csv").open())}
    lift0, lift1, max0 = rows[("lift", "0")], rows[("lift", "1")], rows[("max", "0")]
    # seed 0: CE noise 0.25/0.5, blur 0.8/0.8 -> mCE 75 %; relative: noise (0.05)/(0.30) , blur 0.6/0.6
    assert float(lift0["mce_vs_max"]) == pytest.approx(75.0)
    assert float(lift0["relative_mce_vs_max"]) == pytest.approx(100 * (0.05 / 0.30 + 1.0) / 2)
    assert float(lift0["mfr_vs_max"]) == pytest.approx(50.0)
    assert float(max0["mce_vs_max"]) == pytest.approx(100.0) and float(max0["mfr_vs_max"]) == pytest.approx(100.0)
    # seed 1 against max of seed 1: noise 1.0/1.0, blur 0.4/0.8 -> 75 %; FR 0.05/0.10
    assert float(lift1["mce_vs_max"]) == pytest.approx(75.0)
    assert float(lift1["mfr_vs_max"]) == pytest.approx(50.0)
    assert float(lift1["mce"]) == pytest.approx(100 * (0.5 + 0.2) / 2)
    table = (tmp_path / "results.md").read_text()
    assert "| lift | 2 | 10.0 +- 0.0 |" in table  # clean error
    assert "| max | 2 | 15.0 +- 7.1 | " in table
    assert "| 75.0 +- 0.0 |" in table and "| 92.5 +- 3.5 |" in table.splitlines()[-1]  # shift consistency of lift


@pytest.mark.slow
def test_a_tiny_study_trains_evaluates_and_tabulates_through_the_cli(tmp_path: Path) -> None:
    extra = ("--data.init_args.num_train 64 --data.init_args.num_val 32 --data.init_args.batch_size 32 "
             "--trainer.callbacks null --trainer.limit_train_batches 2")  # fmt: skip
    command = [sys.executable, str(REPO / "benchmarks" / "robustness_study.py"), "--variants", "max", "lift",
               "--seeds", "0", "--epochs", "1", "--extra", extra, "--eval-extra", "--data.init_args.num_images 8",
               "--output", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [(r["variant"], r["seed"]) for r in rows] == [("max", "0"), ("lift", "0")]
    assert float(rows[0]["mce_vs_max"]) == pytest.approx(100.0)
    assert 0 <= float(rows[1]["shift_consistency"]) <= 100
