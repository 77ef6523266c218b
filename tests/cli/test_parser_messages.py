"""A parser mistake is one or two lines naming the option (as typed, or the config file setting it), the value and
what is accepted: the rewriting tested on jsonargparse's recorded messages (no parser, no Lightning), and the
installed jsonargparse checked to still word them as recorded (in-process, one parse per case)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

import liftpool_lightning.data
import liftpool_lightning.robustness
import liftpool_lightning.tasks  # noqa: F401  (imported by the CLI: a class typo's choices are their classes)
from liftpool_lightning.cli_parser_messages import parser_error_lines
from tests.cli.parser_messages import CASES, argv, capture, recorded

HINT = "(liftpool fit --help lists the options)"

#: case: the lines printed; "{typo}" etc. stand for the config files, "{...}" at the end of a line for "any rest".
EXPECTED: dict[str, list[str]] = {
    "option_typo_command_line": [
        "liftpool: error: --model.init_args.lamda_p: ClassificationTask has no option 'lamda_p'; did you mean "
        "lambda_p?",
        "ClassificationTask accepts: network, num_classes, pool, {...}",
    ],
    "option_typo_config": [
        "liftpool: error: model.init_args.lamda_p in {typo}: ClassificationTask has no option 'lamda_p'; did you "
        "mean lambda_p?",
        "ClassificationTask accepts: network, num_classes, pool, {...}",
    ],
    "trainer_option_typo_config": [
        "liftpool: error: trainer.max_epoch in {trainer_typo}: no such option; did you mean trainer.max_epochs?",
        HINT,
    ],
    "not_a_number": ["liftpool: error: --model.init_args.lambda_u: expected a number, got 'abc'"],
    "not_an_integer": ["liftpool: error: --trainer.max_epochs: expected an integer, got 'ten'"],
    "not_bool_or_int": ["liftpool: error: --seed_everything: expected true or false or an integer, got 'x'"],
    "not_a_mapping": [
        "liftpool: error: --model.init_args.pool_options: expected a mapping, e.g. '{key: value}', got '5'"
    ],
    "unknown_top_option": ["liftpool: error: --ckpt_pth: no such option; did you mean --ckpt_path?", HINT],
    "unknown_trainer_option": [
        "liftpool: error: --trainer.maxepochs: no such option; did you mean --trainer.max_epochs?",
        HINT,
    ],
    # a prefix of an option is not taken for it (argparse would silently: allow_abbrev=False)
    "option_prefix": ["liftpool: error: --trainer.max_epoch: no such option; did you mean --trainer.max_epochs?", HINT],
    "literal_choice": [
        "liftpool: error: --data.init_args.task: expected one of classification, segmentation, got 'classificaton'; "
        "did you mean classification?"
    ],
    "trainer_literal_choice": ["liftpool: error: --trainer.precision: expected one of 64, 32, 16, {...}"],
    "data_option_typo": [
        "liftpool: error: --data.init_args.batchsize: SyntheticShapesDataModule has no option 'batchsize'; did you "
        "mean batch_size?",
        "SyntheticShapesDataModule accepts: {...}",
    ],
    "optimizer_option_typo": [
        "liftpool: error: --model.init_args.optimizer.init_args.lrr: AdamW has no option 'lrr'; did you mean lr?",
        "AdamW accepts: params, lr, betas, eps, weight_decay, amsgrad, {...}",
    ],
    "optimizer_class_typo": [
        "liftpool: error: --model.init_args.optimizer: no class 'torch.optim.Adamm'; did you mean torch.optim.Adam?"
    ],
    "scheduler_class_typo": [
        "liftpool: error: --model.init_args.lr_scheduler: no class 'torch.optim.lr_scheduler.StepLRR'; did you mean "
        "torch.optim.lr_scheduler.StepLR?"
    ],
    "data_class_typo": [
        "liftpool: error: --data: no class 'SyntheticShapesDataModul'; did you mean SyntheticShapesDataModule?",
        "choose from {...}",
    ],
    "model_class_typo_config": [
        "liftpool: error: model.class_path in {bad_class}: no class 'ClasificationTask'; did you mean "
        "ClassificationTask?",
        "choose from {...}",
    ],
    "callback_class_typo": [
        "liftpool: error: --trainer.callbacks: no class 'lightning.pytorch.callbacks.EarlyStoppin'; did you mean "
        "lightning.pytorch.callbacks.EarlyStopping?"
    ],
}


def _matches(lines: list[str], expected: list[str], paths: dict[str, str]) -> bool:
    if len(lines) != len(expected):
        return False
    for line, want in zip(lines, expected, strict=True):
        for name, path in paths.items():
            want = want.replace(f"{{{name}}}", path)
        if want.endswith("{...}") and not line.startswith(want.removesuffix("{...}")):
            return False
        if not want.endswith("{...}") and line != want:
            return False
    return True


def test_every_recorded_case_has_its_expected_lines() -> None:
    assert set(EXPECTED) == set(CASES) == set(recorded()["messages"])


@pytest.mark.parametrize("case", list(CASES))
def test_recorded_message_becomes_one_or_two_lines(case: str, tmp_path: Path) -> None:
    record = recorded()
    args = argv(case, tmp_path)  # writes the config files the message's option is looked up in
    message = record["messages"][case].replace("{root}", str(tmp_path))
    lines = parser_error_lines(message, args, record["fit_options"], "fit")
    paths = {name: str(tmp_path / f"{name}.yaml") for name in ("typo", "bad_class", "trainer_typo")}
    assert _matches(lines, EXPECTED[case], paths), "\n".join(lines)


def test_the_choices_listed_for_a_class_typo_are_the_tasks(tmp_path: Path) -> None:
    record = recorded()
    message = record["messages"]["model_class_typo_config"]
    (_, choices) = parser_error_lines(message, argv("model_class_typo_config", tmp_path), record["fit_options"], "fit")
    assert choices.startswith("choose from ") and choices.endswith(" (or a full import path)")
    names = choices.removeprefix("choose from ").removesuffix(" (or a full import path)").split(", ")
    assert {"ClassificationTask", "SegmentationTask", "RobustnessTask"} <= set(names)
    assert not any(name.startswith("Base") for name in names)


def test_an_unreadable_message_is_shown_compactly() -> None:
    lines = parser_error_lines("Something new\n   happened here\n", [], [], "fit")
    assert lines == ["liftpool: error: Something new happened here"]


@pytest.mark.parametrize("case", list(CASES))
def test_installed_jsonargparse_gives_the_lines_and_words_the_message_as_recorded(case: str, tmp_path: Path) -> None:
    """The console's lines with the installed jsonargparse, then its wording: a failure of the second assertion alone
    means jsonargparse words the message differently but is still read right: re-record
    (``python -m tests.cli.parser_messages``) and widen the version bound in pyproject.toml."""
    message, _, printed = capture(argv(case, tmp_path))
    lines = [line for line in printed.splitlines() if line.strip() and not line.startswith("Seed set")]
    paths = {name: str(tmp_path / f"{name}.yaml") for name in ("typo", "bad_class", "trainer_typo")}
    assert _matches(lines, EXPECTED[case], paths), "\n".join(lines)
    record = recorded()
    assert message.replace(str(tmp_path), "{root}") == record["messages"][case], (
        f"jsonargparse {version('jsonargparse')} words this message differently from the recorded "
        f"{record['jsonargparse']}"
    )
