"""The constraint diagnostics script records what it says, per pool, and keeps finished runs on a rerun."""

import csv

from benchmarks.constraint_diagnostics import main


def test_diagnostics_record_each_pool_and_keep_finished_runs(tmp_path, capsys) -> None:
    arguments = ["--runs", "max", "lift_paper", "--epochs", "1", "--every", "2", "--num-train", "256",
                 "--output", str(tmp_path)]  # fmt: skip
    main(arguments)
    with (tmp_path / "diagnostics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["run"], row["step"]) for row in rows] == [("max", "0"), ("max", "2"), ("lift_paper", "0"),
                                                           ("lift_paper", "2")]  # fmt: skip
    for row in rows:
        for pool in (1, 2, 3):
            assert float(row[f"pool{pool}_feature_rms"]) > 0 and float(row[f"pool{pool}_grad_task"]) > 0
    paper = rows[2]
    assert all(float(paper[f"pool{pool}_c_p"]) > 0 for pool in (1, 2, 3))
    assert all(float(paper[f"pool{pool}_grad_lift"]) > 0 for pool in (1, 2, 3))  # the paper's gradients
    assert rows[0]["pool1_c_p"] == "" and rows[0]["pool1_grad_lift"] == "0.0"  # MaxPool has no lifting loss
    assert 1.0 < float(paper["pool1_p_error"]) < 3.0  # random P predicts worse than nothing at the start
    table = (tmp_path / "diagnostics.md").read_text()
    assert "seed 0, epochs: 1" in table
    assert sum(line.startswith("| max | 0 | ") for line in table.splitlines()) == 1  # step 0 (of the steps shown)
    assert sum(line.startswith("| lift_paper | ") for line in table.splitlines()) == 2  # and its epoch's accuracy
    assert (tmp_path / "diagnostics.png").stat().st_size > 10_000
    capsys.readouterr()
    main(arguments)
    assert "max: kept from" in capsys.readouterr().out
    with (tmp_path / "diagnostics.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 4
