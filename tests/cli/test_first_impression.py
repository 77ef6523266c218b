"""A clean first impression (issue 16, section 4): a fast ``--help``/``--version`` that lists every command, no
start-up noise, ``predict`` says where it wrote, and ``visualize`` rejects impossible channels and sizes in a line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from liftpool_lightning.cli import COMMANDS, main
from tests.cli.conftest import QUICKSTART, run_subprocess, tiny_args

NOISE = (
    "No CUDA runtime is found",
    "litlogger",
    "litmodels",
    "💡 Tip",
    "LeafSpec",
)


@pytest.mark.parametrize("flag", ["--version", "-V", "--help", "-h"])
def test_version_and_help_load_neither_torch_nor_lightning(flag: str) -> None:
    code = (
        f"import sys; from liftpool_lightning.cli import main; status = main([{flag!r}]); "
        "heavy = [m for m in ('torch', 'lightning', 'jsonargparse', 'torchvision') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(status or bool(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stderr


def test_help_lists_every_command_in_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()]
    expected = ["fit", "validate", "test", "predict", "check-data", "export", "bundle", "demo", "visualize", "info"]
    assert listed == list(COMMANDS) == expected
    assert "robustness" in out  # `test` with a robustness config
    assert main([]) == 0 and capsys.readouterr().out == out


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """The quickstart, tiny, through the console command: (its folder, the result)."""
    root = tmp_path_factory.mktemp("quickstart")
    result = run_subprocess(["fit", "--config", str(QUICKSTART), *tiny_args(root), "--trainer.max_epochs=1"], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result


def test_quickstart_prints_no_start_up_noise(tiny_fit) -> None:
    _, result = tiny_fit
    output = result.stdout + result.stderr
    for noise in NOISE:
        assert noise not in output, noise


def test_predict_says_where_it_wrote_and_is_quiet(tiny_fit) -> None:
    """Without checkpoint callbacks (Lightning adds its own and, without this filter, a litmodels tip)."""
    root, _ = tiny_fit
    checkpoint = root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    out = root / "predictions"
    args = [f"--ckpt_path={checkpoint}", "--trainer.callbacks=[]", f"--model.init_args.prediction_dir={out}"]
    result = run_subprocess(["predict", "--config", str(QUICKSTART), *tiny_args(root), *args], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Predictions written to {out}: 16 rows of class probabilities in predictions-rank0.csv" in result.stderr
    assert (out / "predictions-rank0.csv").is_file()
    for noise in NOISE:
        assert noise not in result.stdout + result.stderr, noise


def test_visualize_rejects_channels_the_layer_lacks_and_a_zero_size(tiny_fit) -> None:
    root, _ = tiny_fit
    checkpoint = root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    image = root / "image.png"
    Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)).save(image)
    base = ["visualize", "--ckpt_path", str(checkpoint), "--image", str(image), "--output", str(root / "pictures")]
    channels = run_subprocess([*base, "--channels", "0", "500"], cwd=root)
    assert channels.returncode == 1
    assert [line for line in channels.stderr.splitlines() if line.strip()] == [
        "liftpool visualize: error: channels: 500 out of range: layer network.features.6 has 32 channels (0..31)"
    ]
    size = run_subprocess([*base, "--size", "0"], cwd=root)
    assert size.returncode == 2
    assert [line for line in size.stderr.splitlines() if line.strip()] == [
        "liftpool visualize: error: --size must be >= 1, got 0",
        "(liftpool visualize --help lists the options)",
    ]
    assert not (root / "pictures").exists()
