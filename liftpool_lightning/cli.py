"""The ``liftpool`` command. For now: ``--version``, ``--help`` and ``demo``; training subcommands come next."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from liftpool_lightning import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``liftpool`` command."""
    parser = argparse.ArgumentParser(
        prog="liftpool",
        description="LiftPool (Zhao & Snoek, ICLR 2021): bidirectional ConvNet pooling, in PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"liftpool-lightning {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="show what the LiftPool layers do, in seconds on a CPU")
    demo.add_argument("--steps", type=int, default=60, help="training steps of the learned P/U (default 60)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``liftpool`` and ``python -m liftpool_lightning``; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(args)
    if options.command == "demo":
        if options.steps < 0:
            parser.error(f"--steps must be >= 0, got {options.steps}")
        from liftpool_lightning.demo import run_demo

        run_demo(steps=options.steps, seed=options.seed)
        return 0
    parser.print_help()
    return 0
