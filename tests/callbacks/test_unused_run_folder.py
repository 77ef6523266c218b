"""Which run folders count as unused (removed after a failure) and which hold results (always kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

from liftpool_lightning.callbacks.unused_run_folder import holds_results


def _folder(root: Path, *files: str) -> Path:
    folder = root / "version_0"
    (folder / "checkpoints").mkdir(parents=True)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    return folder


def test_a_folder_with_only_the_config_and_hyperparameters_holds_nothing(tmp_path: Path) -> None:
    assert not holds_results(_folder(tmp_path, "config.yaml", "hparams.yaml"))
    assert not holds_results(_folder(tmp_path / "empty"))


@pytest.mark.parametrize("result", ["checkpoints/last.ckpt", "metrics.csv", "subbands/epoch0.png", "notes.txt",
                                    "checkpoints/config.yaml"])  # fmt: skip
def test_any_other_file_is_a_result(tmp_path: Path, result: str) -> None:
    assert holds_results(_folder(tmp_path, "config.yaml", result))
