"""benchmarks/gpu_check.sh parses, and on a machine lacking what it needs and without wheels it says so in one line
before running anything (the GPU stages themselves need a GPU: run the script there, or with --rehearse on a CPU);
benchmarks/gpu_check_wheels.sh refuses a package it cannot pin."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def test_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    for arguments, message in [
        (["--bogus"], "gpu_check: unknown option --bogus (options: --rehearse, --only STAGES, --help)"),
        (["a", "b"], "gpu_check: one OUTPUT_DIR only, got a and b"),
        (["--only"], "gpu_check: --only needs a comma-separated list of stages"),
        (
            ["--only", "gpu_tests,fits"],
            "gpu_check: unknown stage fits in --only (stages: gpu_tests, "
            "layer_tests_cuda_standin, triton_kernels, fit_gpu_preset, fit_ddp_preset_one_device, benchmark_bf16)",
        ),
    ]:
        result = subprocess.run(["bash", str(SCRIPT), *arguments], capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stderr.strip()) == (2, message)
    usage = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "bash benchmarks/gpu_check.sh --rehearse [OUTPUT_DIR]" in usage.stdout


@pytest.mark.skipif(shutil.which("python3") is None, reason="needs a python3 on PATH")
def test_wheels_script_refuses_a_package_not_installed_here(tmp_path: Path) -> None:
    script = SCRIPT.with_name("gpu_check_wheels.sh")
    result = subprocess.run(
        ["bash", str(script), "no_such_package_for_liftpool"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "gpu_check_wheels: no_such_package_for_liftpool is not installed here; install it or name another package"
    )


@pytest.mark.slow
def test_the_rehearsal_runs_every_stage_on_a_cpu(tmp_path: Path) -> None:
    """``--rehearse``: the same script and command lines on the CPU (about 2-3 minutes here); every stage exits 0 and
    the benchmark's table is printed."""
    result = subprocess.run(
        ["bash", str(SCRIPT), "--rehearse", str(tmp_path / "out")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=2000,  # the stages' own limits add up to 1860 s
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = dict(line.strip("| ").split(" | ") for line in result.stdout.splitlines() if " | exit " in line)
    stages = [
        "layer_tests_cuda_standin",
        "triton_kernels",
        "fit_gpu_preset",
        "fit_ddp_preset_one_device",
        "benchmark_bf16",
    ]
    assert list(rows) == stages and all(row.startswith("exit 0,") for row in rows.values()), rows
    assert "| vgg13 | " in result.stdout and (tmp_path / "out" / "benchmark_bf16.json").is_file()
