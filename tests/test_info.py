"""``liftpool info``: versions, switches and the lifting backend of each device and dtype, with the reasons."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from liftpool_lightning.cli import main
from liftpool_lightning.info import backend_reports


def test_info_names_the_backend_and_why_not_the_others(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFTPOOL_NATIVE", "0")
    monkeypatch.delenv("LIFTPOOL_TRITON", raising=False)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"torch {torch.__version__.split('+')[0]}" in out
    assert "switches: LIFTPOOL_NATIVE=0, LIFTPOOL_TRITON=0" in out
    assert "LiftDownPool2d on cpu torch.float32 (2, 64, 32, 32): pytorch" in out
    assert "LiftUpPool2d on cpu torch.float64 (2, 64, 16, 16): pytorch" in out
    assert "    native: LIFTPOOL_NATIVE=0" in out


def test_reports_follow_the_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTPOOL_NATIVE", "0")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    down, up = backend_reports("cpu", torch.float32, channels=4, size=8)
    assert (down.chosen, up.chosen) == ("pytorch", "pytorch")
    assert down.reasons["native"] == ["LIFTPOOL_NATIVE=0"]
    assert down.reasons["generic"] == []  # it would serve, after the chosen one
    assert "bfloat16" in backend_reports("cpu", torch.bfloat16, channels=4, size=8)[0].reasons["native"][0]


def test_a_wrong_option_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", "info", "--bogus"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "liftpool info: error: unrecognized arguments: --bogus",
        "(liftpool info --help lists the options)",
    ]
