"""The ``liftpool`` command: LightningCLI's ``fit``, ``validate``, ``test``, ``predict``; plus ``check-data``,
``export``, ``bundle``, ``demo``, ``visualize`` and ``info`` (see :data:`COMMANDS`).

``liftpool fit --config configs/quickstart.yaml`` trains the quickstart model on the embedded synthetic data.
Configs compose: later ``--config`` files override earlier ones (e.g. an experiment, then ``configs/trainer/ddp.yaml``).
A mistake in a config or on the command line ends with one or two lines (``cli_errors``); ``LIFTPOOL_TRACEBACK=1``
shows the full parser output or traceback. ``liftpool --help`` and ``--version`` load neither torch nor Lightning.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple, NoReturn

from liftpool_lightning import __version__
from liftpool_lightning.cli_errors import PREFIX, config_paths, did_you_mean, exception_lines, full_trace_requested


class Command(NamedTuple):
    """A ``liftpool`` subcommand: its one-line summary for ``liftpool --help`` and what runs it (the arguments after
    the command's name -> exit status)."""

    summary: str
    run: Callable[[list[str]], int]


class _OneLineErrors(argparse.ArgumentParser):
    """argparse for the small commands: a mistake is one line and a pointer to ``--help``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n({self.prog} --help lists the options)\n")


def _demo(args: list[str]) -> int:
    parser = _OneLineErrors(prog="liftpool demo", description="Show what the LiftPool layers do, in seconds.")
    parser.add_argument("--steps", type=int, default=60, help="training steps of the learned P/U (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    options = parser.parse_args(args)
    if options.steps < 0:
        parser.error(f"--steps must be >= 0, got {options.steps}")
    from liftpool_lightning.demo import run_demo

    run_demo(steps=options.steps, seed=options.seed)
    return 0


def _info(args: list[str]) -> int:
    parser = _OneLineErrors(
        prog="liftpool info",
        description="Print the versions, the devices and which lifting backend serves LiftPool on each device and "
        "dtype, with the reason each other backend does not (paste it into a bug report).",
    )
    parser.parse_args(args)
    from liftpool_lightning.info import run_info

    run_info()
    return 0


def _visualize(args: list[str]) -> int:
    parser = _OneLineErrors(
        prog="liftpool visualize", description="Draw a checkpoint's LiftPool sub-bands for some images."
    )
    parser.add_argument("--ckpt_path", required=True, help="checkpoint written by liftpool fit")
    parser.add_argument("--image", nargs="+", required=True, help="image files (any format PIL reads)")
    parser.add_argument("--output", default="liftpool-pictures", help="folder for the PNGs (default liftpool-pictures)")
    parser.add_argument("--normalize", default="auto", choices=["auto", "synthetic", "cifar100", "imagenet", "none"],
                        help="input normalisation (auto: from the network)")  # fmt: skip
    parser.add_argument("--size", type=int, default=None, help="resize images to SIZE x SIZE (SIZE >= 1)")
    parser.add_argument("--layers", nargs="+", default=None, help="LiftDownPool module paths (default: the first)")
    parser.add_argument("--channels", nargs="+", type=int, default=[0, 1],
                        help="feature channels to draw (0 .. the layer's channels - 1)")  # fmt: skip
    options = parser.parse_args(args)
    if options.size is not None and options.size < 1:
        parser.error(f"--size must be >= 1, got {options.size}")
    from liftpool_lightning.visualize import visualize

    try:
        paths = visualize(options.ckpt_path, options.image, options.output, options.normalize, options.size,
                          options.layers, options.channels)  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        if full_trace_requested():
            raise
        print(f"liftpool visualize: error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


def _lightning(args: list[str]) -> int:
    """Run a LightningCLI subcommand; ``args`` starts with its name."""
    check_config_files(args)
    from liftpool_lightning.cli_lightning import run_lightning_cli

    # the console command: None lets LightningCLI read sys.argv itself (given both, it warns)
    run_lightning_cli(None if args == sys.argv[1:] else args)
    return 0


def _check_data(args: list[str]) -> int:
    """Scan a config's data set: ``liftpool check-data --config CONFIG.yaml [--workers N]``."""
    check_config_files(args)
    from liftpool_lightning.cli_check_data import run_check_data

    return run_check_data(args)


def _export(args: list[str]) -> int:
    """``liftpool export --ckpt_path CKPT --format onnx|torch_export ...`` (see :mod:`liftpool_lightning.export`)."""
    from liftpool_lightning.export import main as export_main

    try:
        return export_main(args)
    except (ValueError, FileNotFoundError, ImportError) as error:
        if full_trace_requested():
            raise
        print(f"liftpool export: error: {error}", file=sys.stderr)
        return 1


def _bundle(args: list[str]) -> int:
    """``liftpool bundle --ckpt_path CKPT --output DIR [--push-to-hub REPO_ID]`` (see :mod:`liftpool_lightning.hub`)."""
    from liftpool_lightning.cli_bundle import run_bundle

    try:
        return run_bundle(args)
    except (ValueError, FileNotFoundError, ImportError, OSError) as error:
        if full_trace_requested():
            raise
        print(f"liftpool bundle: error: {error}", file=sys.stderr)
        return 1


#: Every subcommand, in the order ``liftpool --help`` lists them. A new one needs an entry here and nothing else.
COMMANDS: dict[str, Command] = {
    "fit": Command("train a model: liftpool fit --config configs/quickstart.yaml", _lightning),
    "validate": Command("evaluate a checkpoint on the validation split (--config ... --ckpt_path CKPT)", _lightning),
    "test": Command("evaluate on the test split; robustness: --config configs/robustness/*.yaml", _lightning),
    "predict": Command("write a checkpoint's predictions to files (masks as PNGs, probabilities as CSV)", _lightning),
    "check-data": Command("load every sample of a config's data set and list every bad file", _check_data),
    "export": Command("write a checkpoint's network as ONNX or a torch.export program (standard ops only)", _export),
    "bundle": Command("turn a checkpoint into weights + config + model card to share (--push-to-hub REPO)", _bundle),
    "demo": Command("show what the LiftPool layers do, in seconds (no data, no checkpoint)", _demo),
    "visualize": Command("draw a checkpoint's LiftPool sub-bands for some images", _visualize),
    "info": Command("versions, devices and the lifting backend each device runs, with the reasons", _info),
}


def help_text() -> str:
    """What ``liftpool --help`` prints: every command with one line."""
    width = max(len(name) for name in COMMANDS) + 2
    commands = "\n".join(f"  {name:<{width}}{command.summary}" for name, command in COMMANDS.items())
    return (
        "usage: liftpool COMMAND [options]\n\n"
        "LiftPool (Zhao & Snoek, ICLR 2021) layers, trained and evaluated with Lightning.\n\n"
        f"commands:\n{commands}\n\n"
        "options:\n"
        "  -h, --help     show this message and exit\n"
        "  -V, --version  print the version and exit\n\n"
        "liftpool COMMAND --help lists a command's options; fit, validate, test and predict read configs\n"
        "(--config FILE, repeatable: later files override earlier ones) and --print_config shows the result.\n"
        "On an error, LIFTPOOL_TRACEBACK=1 shows the full parser output or traceback."
    )


def check_config_files(argv: list[str]) -> None:
    """Exit with a short message naming the file when a ``--config`` file is missing, a folder, unreadable, not
    UTF-8 or not valid YAML."""
    import yaml

    for path in config_paths(argv):
        try:
            with open(path, encoding="utf-8") as handle:
                content = yaml.safe_load(handle)
        except FileNotFoundError:
            sys.exit(f"{PREFIX} config file {path} does not exist")
        except IsADirectoryError:
            sys.exit(f"{PREFIX} --config {path} is a folder; give a YAML file")
        except PermissionError:
            sys.exit(f"{PREFIX} config file {path} cannot be read (permission denied)")
        except UnicodeDecodeError as error:
            sys.exit(f"{PREFIX} config file {path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
                     f"offset {error.start}); save it as UTF-8")  # fmt: skip
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
            problem = getattr(error, "problem", None) or str(error)
            sys.exit(f"{PREFIX} config file {path} is not valid YAML{line}: {problem}")
        if content is None:
            sys.exit(f"{PREFIX} config file {path} is empty; give the options as a YAML mapping (see configs/)")
        if not isinstance(content, dict):
            sys.exit(f"{PREFIX} config file {path} must hold a mapping of options, got {type(content).__name__}")


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(help_text())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"liftpool-lightning {__version__}")
        return 0
    command = COMMANDS.get(argv[0])
    if command is not None:
        return command.run(argv if command.run is _lightning else argv[1:])
    if argv[0].startswith("-"):  # options before the command (e.g. LightningCLI's --config): Lightning parses them
        return _lightning(argv)
    guess = did_you_mean(argv[0], COMMANDS)
    print(f"{PREFIX} unknown command {argv[0]!r}" + (f"; did you mean {guess}?" if guess else "")
          + f"\ncommands: {', '.join(COMMANDS)} (liftpool --help describes them)", file=sys.stderr)  # fmt: skip
    return 2


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``liftpool`` and ``python -m liftpool_lightning``; returns the exit status.

    Called with ``args`` (from Python), exceptions other than parser errors propagate; as the console command, an
    error a user can cause is one or two lines (see :func:`~liftpool_lightning.cli_errors.exception_lines`).
    """
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] not in ([], ["-h"], ["--help"], ["-V"], ["--version"]):
        from liftpool_lightning.startup_noise import silence_startup_noise

        silence_startup_noise()
    if args is not None:
        return _dispatch(argv)
    try:
        return _dispatch(argv)
    except Exception as error:
        lines = None if full_trace_requested() else exception_lines(error)
        if lines is None:
            raise
        print("\n".join(lines), file=sys.stderr)
        return 1
