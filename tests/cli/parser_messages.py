"""jsonargparse's error messages for a set of user mistakes, recorded so that their rewriting is tested without a
parser (``test_parser_messages.py``), and re-recorded when jsonargparse's wording changes:

    python -m tests.cli.parser_messages        # writes tests/cli/parser_messages.json

Each case is the arguments after ``liftpool fit --config configs/quickstart.yaml <tiny options>``; ``{name}`` stands
for the config file ``FILES[name]`` written into a folder (``{root}`` in recorded messages).
"""

from __future__ import annotations

import contextlib
import io
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RECORDED = HERE / "parser_messages.json"

FILES = {
    "typo": "model:\n  init_args:\n    lamda_p: 0.1\n",
    "bad_class": "model:\n  class_path: ClasificationTask\n",
    "trainer_typo": "trainer:\n  max_epoch: 3\n",
}

CASES: dict[str, list[str]] = {
    "option_typo_command_line": ["--model.init_args.lamda_p", "0.1"],
    "option_typo_config": ["--config", "{typo}"],
    "trainer_option_typo_config": ["--config", "{trainer_typo}"],
    "not_a_number": ["--model.init_args.lambda_u", "abc"],
    "not_an_integer": ["--trainer.max_epochs=ten"],
    "not_bool_or_int": ["--seed_everything=x"],
    "not_a_mapping": ["--model.init_args.pool_options", "5"],
    "unknown_top_option": ["--ckpt_pth=x"],
    "unknown_trainer_option": ["--trainer.maxepochs=3"],
    "option_prefix": ["--trainer.max_epoch=3"],
    "literal_choice": ["--data.init_args.task=classificaton"],
    "trainer_literal_choice": ["--trainer.precision", "17"],
    "data_option_typo": ["--data.init_args.batchsize=3"],
    "optimizer_option_typo": ["--model.init_args.optimizer.init_args.lrr=3"],
    "optimizer_class_typo": ["--model.init_args.optimizer=torch.optim.Adamm"],
    "scheduler_class_typo": ["--model.init_args.lr_scheduler", "torch.optim.lr_scheduler.StepLRR"],
    "data_class_typo": ["--data=SyntheticShapesDataModul"],
    "model_class_typo_config": ["--config", "{bad_class}"],
    "callback_class_typo": ["--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStoppin"],
}


def write_files(root: Path) -> dict[str, str]:
    """The cases' config files under ``root``; their paths by name, and ``root`` itself."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {"root": str(root)}
    for name, text in FILES.items():
        (root / f"{name}.yaml").write_text(text)
        paths[name] = str(root / f"{name}.yaml")
    return paths


def argv(case: str, root: Path) -> list[str]:
    """The whole command line of ``case`` with its files under ``root`` (written by :func:`write_files`)."""
    from tests.cli.conftest import QUICKSTART, tiny_args

    paths = write_files(root)
    args = [arg.format(**paths) if "{" in arg else arg for arg in CASES[case]]
    return ["fit", "--config", str(QUICKSTART), *tiny_args(root / "run"), *args]


def capture(args: list[str]) -> tuple[str, list[str], str]:
    """Run ``liftpool`` in-process on ``args`` (a parser error is expected): jsonargparse's message, the parser's
    option names and what was printed."""
    import liftpool_lightning.cli_parser_messages as messages
    from liftpool_lightning.cli import main

    seen: list[tuple[str, list[str]]] = []
    rewrite = messages.parser_error_lines

    def spy(message: str, argv: Any = (), options: Any = (), subcommand: str | None = None) -> list[str]:
        seen.append((message, list(options)))
        return rewrite(message, argv, options, subcommand)

    messages.parser_error_lines = spy  # type: ignore[assignment]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.suppress(SystemExit):
            main(args)
    finally:
        messages.parser_error_lines = rewrite  # type: ignore[assignment]
    if len(seen) != 1:
        raise AssertionError(f"expected one parser error for {args[-2:]}, got {len(seen)}: {stderr.getvalue()[-2000:]}")
    return seen[0][0], seen[0][1], stderr.getvalue()


def record(path: Path = RECORDED) -> dict[str, Any]:
    """Record every case's message with the installed jsonargparse into ``path``."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        messages, options = {}, []
        for case in CASES:
            message, options, _ = capture(argv(case, root))
            messages[case] = message.replace(str(root), "{root}")
    content = {"jsonargparse": version("jsonargparse"), "fit_options": options, "messages": messages}
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")
    return content


def recorded() -> dict[str, Any]:
    return json.loads(RECORDED.read_text())


if __name__ == "__main__":
    content = record()
    print(f"recorded {len(content['messages'])} messages of jsonargparse {content['jsonargparse']} into {RECORDED}")
