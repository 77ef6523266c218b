"""Every mistake a user can make ends in one or two lines naming the option, the value and what is accepted, through
the console command, before anything is trained. The parser's messages are tested case by case on recorded messages
in ``test_parser_messages.py``; here the console's side: exit status, no traceback, our checks' and Lightning's
exceptions, files, the network."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from liftpool_lightning.cli import COMMANDS, main
from tests.cli.conftest import QUICKSTART, ROOT, run_subprocess, tiny_args

# the module's fixture runs 4 console commands (each loads Lightning): generous on a loaded 2-core machine
pytestmark = pytest.mark.timeout(900)

CIFAR = ROOT / "configs" / "cifar100" / "vgg13_lift.yaml"
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _files(root: Path) -> dict[str, str]:
    """Config files the cases read, written under ``root``; returns their paths by name."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "latin1.yaml").write_bytes("trainer:\n  max_epochs: 1  # caf\xe9\n".encode("latin-1"))
    (root / "a_folder").mkdir(exist_ok=True)
    return {path.stem: str(path) for path in root.iterdir()}


# name: (arguments after ``fit --config QUICKSTART``, or a full command line as a tuple; extra environment)
CASES: dict[str, tuple[list[str] | tuple[str, ...], dict[str, str]]] = {
    "typo_on_command_line": (["--model.init_args.lamda_p", "0.1"], {}),
    "negative_lambda_u": (["--model.init_args.lambda_u", "-1"], {}),
    "kernel_size_0": (["--model.init_args.pool_options", "{kernel_size: 0}"], {}),
    "unknown_pool": (["--model.init_args.pool", "maxx"], {}),
    "negative_max_epochs": (["--trainer.max_epochs", "-5"], {}),
    "config_is_a_folder": (("fit", "--config", "{a_folder}"), {}),
    "config_not_utf8": (["--config", "{latin1}"], {}),
    "download_without_network": (
        (
            "fit",
            "--config",
            str(CIFAR),
            "--data.download=true",
            "--data.root={root}/no-data",
            "--trainer.accelerator=cpu",
            "--trainer.default_root_dir={root}/run",
        ),
        NO_NETWORK,
    ),
    "typo_full_output": (["--model.init_args.lamda_p", "0.1"], {"LIFTPOOL_TRACEBACK": "1"}),
    "own_check_full_trace": (["--model.init_args.lambda_u", "-1"], {"LIFTPOOL_TRACEBACK": "1"}),
}


#: Cases whose console behaviour (exit status, the lines on stderr) is the same run in this process: the console
#: entry point ``main()`` reading ``sys.argv``; the others need a process of their own (environment, a traceback).
IN_PROCESS = ("negative_lambda_u", "kernel_size_0", "unknown_pool", "negative_max_epochs", "config_is_a_folder",
              "config_not_utf8")  # fmt: skip


def _console(args: list[str]) -> subprocess.CompletedProcess:
    """``liftpool ARGS`` as the console command runs it (``main()`` on ``sys.argv``), in this process."""
    stderr, argv = io.StringIO(), sys.argv
    sys.argv = ["liftpool", *args]
    try:
        with contextlib.redirect_stderr(stderr):
            try:
                code = main()
            except SystemExit as exit:  # what the interpreter does with it: print a message, exit 1
                code = exit.code if isinstance(exit.code, int) else 1
                if isinstance(exit.code, str):
                    print(exit.code, file=sys.stderr)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(args, code, "", stderr.getvalue())


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    """Every case through the console command: ``IN_PROCESS`` ones here, the others through ``python -m
    liftpool_lightning``, a few at a time (each one only loads Lightning)."""
    root = tmp_path_factory.mktemp("errors")
    files = {**_files(root / "files"), "root": str(root)}

    def command(name: str) -> list[str]:
        args, _ = CASES[name]
        if isinstance(args, list):
            args = ("fit", "--config", str(QUICKSTART), *tiny_args(root / name), *args)
        for placeholder, value in files.items():
            args = tuple(arg.replace(f"{{{placeholder}}}", value) for arg in args)
        return list(args)

    def run(name: str) -> subprocess.CompletedProcess:
        return run_subprocess(command(name), cwd=root, env=CASES[name][1], timeout=240)

    separate = [name for name in CASES if name not in IN_PROCESS]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        done = dict(zip(separate, pool.map(run, separate), strict=True))
    done.update({name: _console(command(name)) for name in IN_PROCESS})
    assert not list(root.glob("**/*.ckpt")), "a case trained"
    return {**done, "_root": root}  # type: ignore[dict-item]


def _short(result: subprocess.CompletedProcess, code: int) -> str:
    """The error line of a short failure (one or two non-blank lines on stderr, no traceback)."""
    assert result.returncode == code, result.stderr[-3000:]
    lines = _lines(result.stderr)
    assert 1 <= len(lines) <= 2, result.stderr
    assert "Traceback" not in result.stderr and "usage:" not in result.stderr
    (error,) = [line for line in lines if line.startswith("liftpool: error:")]
    return error


def test_typo_on_the_command_line_names_it_and_the_closest_option(results) -> None:
    result = results["typo_on_command_line"]
    error = _short(result, 2)
    assert error == (
        "liftpool: error: --model.init_args.lamda_p: ClassificationTask has no option 'lamda_p'; did you mean lambda_p?"
    )
    assert _lines(result.stderr)[1].startswith("ClassificationTask accepts: network, num_classes, pool,")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("negative_lambda_u", "liftpool: error: ClassificationTask: lambda_u must be >= 0, got -1.0"),
        ("kernel_size_0", "liftpool: error: ClassificationTask: kernel_size must be >= 1, got 0"),
        ("unknown_pool", "liftpool: error: ClassificationTask: pool: unknown pool 'maxx'; choose from lift,"),
        (
            "negative_max_epochs",
            "liftpool: error: `max_epochs` must be a non-negative integer or -1. You passed in -5.",
        ),
    ],
)
def test_values_our_checks_and_lightnings_reject_are_just_the_message(results, case: str, message: str) -> None:
    error = _short(results[case], 1)  # "Seed set to 0" may come first: the seed is set before the model is built
    assert error.startswith(message)
    assert "Namespace(" not in results[case].stderr and "Union" not in results[case].stderr


def test_config_that_is_a_folder_or_not_utf8_is_one_line(results) -> None:
    folder = results["_root"] / "files" / "a_folder"
    assert (
        _short(results["config_is_a_folder"], 1) == f"liftpool: error: --config {folder} is a folder; give a YAML file"
    )
    latin1 = results["_root"] / "files" / "latin1.yaml"
    assert _short(results["config_not_utf8"], 1) == (
        f"liftpool: error: config file {latin1} is not UTF-8 text (byte 0xe9 at offset 31); save it as UTF-8"
    )


def test_download_without_network_names_url_and_folder(results) -> None:
    """The download runs in ``prepare_data``, after Lightning printed its accelerator lines (kept: not an error)."""
    result = results["download_without_network"]
    assert result.returncode == 1, result.stderr[-3000:]
    lines = _lines(result.stderr)
    first = next(i for i, line in enumerate(lines) if line.startswith("liftpool: error:"))
    assert len(lines[first:]) == 1 and "Traceback" not in result.stderr
    root = results["_root"]
    assert lines[first].startswith(
        f"liftpool: error: could not download CIFAR-100 from https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz "
        f"into {root}/no-data: "
    )
    assert (
        f"Without network: download and extract the archive elsewhere, then copy it so that {root}/no-data/"
        in lines[first]
    )
    assert all(line.startswith(("Seed set to", "GPU available", "TPU available")) for line in lines[:first])


def test_liftpool_traceback_keeps_the_full_output(results) -> None:
    parser = results["typo_full_output"]
    assert parser.returncode == 2 and "usage: liftpool [options] fit" in parser.stderr
    assert "Does not validate against any of the Union subtypes" in parser.stderr
    check = results["own_check_full_trace"]
    assert check.returncode == 1 and "Traceback (most recent call last)" in check.stderr
    assert "lambda_u must be >= 0" in check.stderr


def test_unknown_command_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fitt", "--config", "x.yaml"]) == 2
    first, second = _lines(capsys.readouterr().err)
    assert first == "liftpool: error: unknown command 'fitt'; did you mean fit?"
    assert second.startswith(f"commands: {', '.join(COMMANDS)} ")
    assert {"fit", "validate", "test", "predict", "check-data", "demo", "visualize"} <= set(COMMANDS)


def test_an_empty_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(SystemExit) as exited:
        main(["fit", "--config", str(QUICKSTART), "--config", str(empty)])
    assert str(exited.value) == (
        f"liftpool: error: config file {empty} is empty; give the options as a YAML mapping (see configs/)"
    )


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_evaluating_without_a_checkpoint_is_refused_before_anything_runs(subcommand: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=rf"^liftpool {subcommand} without --ckpt_path would evaluate randomly "):
        main([subcommand, "--config", str(QUICKSTART), *tiny_args(tmp_path)])
    assert not (tmp_path / "lightning_logs").exists()
