"""The installed package: public API, import hygiene, the ``liftpool`` command and the README quickstart."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import liftpool_lightning
from liftpool_lightning.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_public_api_names() -> None:
    for name in ("LiftDownPool1d", "LiftDownPool2d", "LiftDownPool3d", "LiftUpPool1d", "LiftUpPool2d", "LiftUpPool3d"):
        assert hasattr(liftpool_lightning, name)
    assert callable(liftpool_lightning.lifting_loss)
    assert re.fullmatch(r"\d+\.\d+\.\d+", liftpool_lightning.__version__)


def test_layers_import_with_torch_alone() -> None:
    """``import liftpool_lightning`` must not pull in Lightning, torchvision, wandb or jsonargparse."""
    code = (
        "import sys, liftpool_lightning; from liftpool_lightning import LiftDownPool2d; "
        "heavy = [m for m in ('lightning', 'pytorch_lightning', 'torchvision', 'wandb', 'jsonargparse') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nn_sources_import_nothing_of_the_rest_of_the_package() -> None:
    for path in (ROOT / "liftpool_lightning" / "nn").glob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("import ", "from ")):
                assert "lightning " not in line.replace("liftpool_lightning", ""), f"{path.name}: {line}"
                if "liftpool_lightning" in line:
                    assert "liftpool_lightning.nn" in line, f"{path.name} imports outside nn/: {line}"


def test_cli_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert liftpool_lightning.__version__ in capsys.readouterr().out
    assert main([]) == 0  # no command: the help
    out = capsys.readouterr().out
    assert "demo" in out and "fit" in out and "predict" in out and "visualize" in out


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--steps", "-1"])
    assert exit_info.value.code == 2
    assert "--steps must be >= 0" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2


def test_demo_reports_real_numbers() -> None:
    from liftpool_lightning.demo import run_demo

    lines: list[str] = []
    results = run_demo(steps=30, seed=0, echo=lines.append)
    assert results["haar_horizontal_lh_share"] == pytest.approx(1.0)
    assert results["haar_vertical_lh_share"] == pytest.approx(0.0)
    assert results["loss_step_30"] < 0.5 * results["loss_step_0"]
    assert results["round_trip_error"] < 1e-10
    assert any("max |x - x_rec|" in line for line in lines)


def test_python_dash_m_runs_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "liftpool-lightning" in result.stdout


def test_readme_quickstart_is_what_ci_runs() -> None:
    """The README's test command and .ci/run must not drift apart."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(python3 -m venv .+)$", readme, flags=re.MULTILINE)
    assert len(commands) == 2, commands
    main_command, test_command = commands
    assert main_command.split("&&")[-1].strip().startswith("liftpool ")
    assert test_command.split("&&")[-1].strip().startswith("pytest")
    assert "grep -E '^python3 -m venv ' README.md | sed -n 2p" in ci  # CI runs that very line
