"""The segmentation study's example figure (benchmarks/segmentation_examples.py) from real, tiny study runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from benchmarks.segmentation_examples import main, parse_args
from liftpool_lightning.cli import main as liftpool
from tests.cli.conftest import ROOT

CONFIG = ROOT / "configs" / "quickstart_segmentation.yaml"


def test_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--num-images", "0"])
    assert "--num-images must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_draws_each_variants_predictions_beside_the_truth(tmp_path: Path) -> None:
    for variant, options in {"max": ["--model.init_args.pool=max"], "lift": []}.items():
        run = tmp_path / "runs" / variant / "seed_0"
        liftpool(["fit", "--config", str(CONFIG), "--data.num_train=8", "--data.num_val=4", "--data.batch_size=4",
                  "--data.image_size=32", "--trainer.max_epochs=1", "--trainer.callbacks=null",
                  "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={run}",
                  f"--trainer.logger.init_args.save_dir={run}", *options])  # fmt: skip
        assert len(list(run.glob("**/checkpoints/*.ckpt"))) == 1  # the default ModelCheckpoint's epoch=0-step=2.ckpt
    with pytest.raises(SystemExit, match=r"^max_unpool_blur: no checkpoint under "):
        main(["--study", str(tmp_path), "--image-size", "32"])  # the default variants include unrun ones
    output = main(["--study", str(tmp_path), "--variants", "max", "lift", "--image-size", "32", "--num-images", "3",
                   "--output", str(tmp_path / "examples.png")])  # fmt: skip
    width, height = Image.open(output).size
    assert width > height > 200  # 4 columns (image, truth, max, lift), 3 rows
