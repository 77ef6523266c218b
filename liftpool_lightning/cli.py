"""The ``liftpool`` command: LightningCLI with ``fit``, ``validate``, ``test``, ``predict``; plus ``demo``.

``liftpool fit --config configs/quickstart.yaml`` trains the quickstart model on the embedded synthetic data.
Configs compose: later ``--config`` files override earlier ones (e.g. an experiment, then ``configs/trainer/ddp.yaml``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from liftpool_lightning import __version__

USAGE_HINT = (
    "liftpool {fit,validate,test,predict} --config CONFIG.yaml  |  liftpool visualize --ckpt_path CKPT --image IMG"
    "  |  liftpool demo  |  liftpool --version"
)


def _demo(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="liftpool demo", description="Show what the LiftPool layers do, in seconds.")
    parser.add_argument("--steps", type=int, default=60, help="training steps of the learned P/U (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    options = parser.parse_args(args)
    if options.steps < 0:
        parser.error(f"--steps must be >= 0, got {options.steps}")
    from liftpool_lightning.demo import run_demo

    run_demo(steps=options.steps, seed=options.seed)
    return 0


def _visualize(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="liftpool visualize", description="Draw a checkpoint's LiftPool sub-bands for some images."
    )
    parser.add_argument("--ckpt_path", required=True, help="checkpoint written by liftpool fit")
    parser.add_argument("--image", nargs="+", required=True, help="image files (any format PIL reads)")
    parser.add_argument("--output", default="liftpool-pictures", help="folder for the PNGs (default liftpool-pictures)")
    parser.add_argument("--normalize", default="auto", choices=["auto", "synthetic", "cifar100", "imagenet", "none"],
                        help="input normalisation (auto: from the network)")  # fmt: skip
    parser.add_argument("--size", type=int, default=None, help="resize images to SIZE x SIZE")
    parser.add_argument("--layers", nargs="+", default=None, help="LiftDownPool module paths (default: the first)")
    parser.add_argument("--channels", nargs="+", type=int, default=[0, 1], help="feature channels to draw")
    options = parser.parse_args(args)
    from liftpool_lightning.visualize import visualize

    try:
        paths = visualize(options.ckpt_path, options.image, options.output, options.normalize, options.size,
                          options.layers, options.channels)  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        print(f"liftpool visualize: error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


def _config_paths(argv: list[str]) -> list[str]:
    paths = []
    for i, arg in enumerate(argv):
        if arg in ("--config", "-c") and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def check_config_files(argv: list[str]) -> None:
    """Exit with a short message naming the file when a ``--config`` file is missing or not valid YAML."""
    import yaml

    for path in _config_paths(argv):
        try:
            with open(path) as handle:
                content = yaml.safe_load(handle)
        except FileNotFoundError:
            sys.exit(f"liftpool: error: config file {path} does not exist")
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
            problem = getattr(error, "problem", None) or str(error)
            sys.exit(f"liftpool: error: config file {path} is not valid YAML{line}: {problem}")
        if content is not None and not isinstance(content, dict):
            sys.exit(
                f"liftpool: error: config file {path} must hold a mapping of options, got {type(content).__name__}"
            )


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``liftpool`` and ``python -m liftpool_lightning``; returns the exit status."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] in (["--version"], ["-V"]):
        print(f"liftpool-lightning {__version__}")
        return 0
    if argv[:1] == ["demo"]:
        return _demo(argv[1:])
    if argv[:1] == ["visualize"]:
        return _visualize(argv[1:])
    if not argv:
        print(f"usage: {USAGE_HINT}\n")
        argv, args = ["--help"], ["--help"]
    check_config_files(argv)
    from liftpool_lightning.cli_lightning import run_lightning_cli

    if args is not None:  # called from Python: let exceptions through
        run_lightning_cli(argv)
        return 0
    try:  # the console command: a bad value or missing data is one clear line, not a stack trace
        run_lightning_cli(None)  # None: LightningCLI reads sys.argv itself
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, FloatingPointError) as error:
        if os.environ.get("LIFTPOOL_TRACEBACK"):
            raise
        print(f"liftpool: error: {error}\n(set LIFTPOOL_TRACEBACK=1 to see where it came from)", file=sys.stderr)
        return 1
    return 0
