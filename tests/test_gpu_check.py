"""benchmarks/gpu_check.sh parses, and on a machine lacking what it needs and without wheels it says so in one line
before running anything (the GPU stages themselves need a GPU: run the script there, or with --rehearse on a CPU);
benchmarks/gpu_check_wheels.sh refuses a package it cannot pin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def test_the_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.skipif(shutil.which("python3") is None, reason="needs a python3 on PATH")
def test_missing_packages_without_wheels_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "repo" / "benchmarks" / SCRIPT.name  # a checkout without .whl (this one may have it)
    script.parent.mkdir(parents=True)
    shutil.copy(SCRIPT, script)
    bare = tmp_path / "bare-python"
    bare.write_text('#!/bin/sh\nexec python3 -S -I "$@"\n')  # no site-packages: nothing but the standard library
    bare.chmod(0o755)
    result = subprocess.run(
        ["bash", str(script), str(tmp_path / "out")],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(bare), "LIFTPOOL_WHEELS": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("gpu_check: missing jsonargparse torchmetrics pytest")
    assert "no wheels in $LIFTPOOL_WHEELS" in line


def test_wheels_script_refuses_a_package_not_installed_here(tmp_path: Path) -> None:
    script = SCRIPT.with_name("gpu_check_wheels.sh")
    result = subprocess.run(
        ["bash", str(script), "no_such_package_for_liftpool"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "gpu_check_wheels: no_such_package_for_liftpool is not installed here; install it or name another package"
    )
