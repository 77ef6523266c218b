"""``--ckpt_path`` never swaps the model silently, and ``--ckpt_path last`` stays within the experiment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from jsonargparse import Namespace

from liftpool_lightning.checkpointing.experiment import candidate_roots, identity_differences, model_differences
from liftpool_lightning.checkpointing.resolve import search_last_checkpoint
from liftpool_lightning.cli import main
from tests.cli.conftest import QUICKSTART, TINY_SYNTHETIC, run_subprocess, tiny_args

SAVED = {"_class_path": "liftpool_lightning.tasks.ClassificationTask", "network": "small_vgg", "num_classes": 8,
         "pool": "max", "pool_options": {"bands": ["ll"]}, "lambda_u": 0.01, "_instantiator": "x"}  # fmt: skip


def _given(**init_args: object) -> Namespace:
    options = {"network": "small_vgg", "num_classes": 100, "pool": "max", "pool_options": {"bands": ("ll",)}}
    return Namespace(
        class_path="liftpool_lightning.tasks.ClassificationTask", init_args=Namespace(**options, **init_args)
    )


def test_same_options_differ_in_nothing_whatever_the_spelling() -> None:
    # tuples vs lists, Namespaces vs dicts, an option the command leaves out, and the linked class count
    assert model_differences(_given(), SAVED, linked=["num_classes"]) == []


def test_each_differing_option_is_named_with_both_values() -> None:
    given = _given(lambda_u=0.5)
    given.init_args.pool = "lift"
    assert model_differences(given, SAVED, linked=["num_classes"]) == [
        "pool: checkpoint 'max', given 'lift'",
        "lambda_u: checkpoint 0.01, given 0.5",
    ]
    assert model_differences(given, SAVED)[0] == "num_classes: checkpoint 8, given 100"


def test_another_task_class_is_a_difference() -> None:
    given = _given()
    given.class_path = "SegmentationTask"
    assert model_differences(given, SAVED, linked=["num_classes"]) == [
        "model class: checkpoint ClassificationTask, given SegmentationTask"
    ]


def test_candidate_roots_drop_repeats_and_nested_folders(tmp_path: Path) -> None:
    assert candidate_roots(str(tmp_path), [str(tmp_path / "logs"), str(tmp_path)]) == [tmp_path.resolve()]
    assert candidate_roots(str(tmp_path / "a"), [str(tmp_path)]) == [tmp_path.resolve()]
    assert candidate_roots(str(tmp_path / "a"), [str(tmp_path / "b")]) == [(tmp_path / "a").resolve(),
                                                                         (tmp_path / "b").resolve()]  # fmt: skip


def test_last_is_the_newest_checkpoint_of_the_same_experiment(tmp_path: Path) -> None:
    def write(name: str, pool: str, mtime: int) -> Path:
        path = tmp_path / name / "last.ckpt"
        path.parent.mkdir()
        torch.save({"state_dict": {}, "hyper_parameters": {**SAVED, "pool": pool}}, path)
        os.utime(path, (mtime, mtime))
        return path

    old_max, lift, newer_lift = write("a", "max", 100), write("b", "lift", 200), write("c", "lift", 300)
    search = search_last_checkpoint(
        [tmp_path], lambda content: model_differences(_given(), content["hyper_parameters"], ["num_classes"])
    )
    assert search.found == old_max
    assert [path for path, _ in search.passed_over] == [newer_lift, lift]
    assert search.passed_over[0][1] == ["pool: checkpoint 'lift', given 'max'"]
    assert search_last_checkpoint([tmp_path]).found == newer_lift  # without a model to match: the newest


@pytest.fixture(scope="module")
def max_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch quickstart run with MaxPool."""
    root = tmp_path_factory.mktemp("max_run")
    main(["fit", "--config", str(QUICKSTART), *tiny_args(root), "--trainer.max_epochs=1",
          "--model.init_args.pool=max"])  # fmt: skip
    return root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"


def test_a_checkpoint_of_other_model_options_is_an_error_naming_each(tmp_path: Path, max_checkpoint: Path) -> None:
    args = ["validate", "--config", str(QUICKSTART), *tiny_args(tmp_path), f"--ckpt_path={max_checkpoint}",
            "--model.init_args.lambda_u=0.5"]  # fmt: skip
    result = run_subprocess(args, cwd=tmp_path)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("liftpool: error:")]
    assert f"--ckpt_path {max_checkpoint} was trained with other model options" in line
    assert "pool: checkpoint 'max', given 'lift'; lambda_u: checkpoint 0.01, given 0.5" in line
    assert "--model_from_ckpt true" in line
    assert not (tmp_path / "lightning_logs").exists()  # refused before anything ran


def test_matching_options_or_the_explicit_opt_in_run(tmp_path: Path, max_checkpoint: Path, capsys) -> None:
    validate = ["validate", "--config", str(QUICKSTART), *tiny_args(tmp_path), f"--ckpt_path={max_checkpoint}"]
    main([*validate, "--model.init_args.pool=max"])
    assert "--model_from_ckpt" not in capsys.readouterr().err
    main([*validate, "--model_from_ckpt=true"])  # the config says lift: the checkpoint's max is taken, and said
    assert (
        "--model_from_ckpt: taking from the checkpoint pool: checkpoint 'max', given 'lift'" in capsys.readouterr().err
    )
    config = (tmp_path / "lightning_logs" / "version_1" / "config.yaml").read_text()
    assert "pool: max" in config


def test_last_passes_over_other_experiments(tmp_path: Path, max_checkpoint: Path, capsys) -> None:
    root = max_checkpoint.parents[3]
    main(["fit", "--config", str(QUICKSTART), *tiny_args(root), "--trainer.max_epochs=1"])  # a newer lift run
    capsys.readouterr()
    main(["validate", "--config", str(QUICKSTART), *tiny_args(root), "--ckpt_path=last", "--model.init_args.pool=max"])
    message = capsys.readouterr().err
    # the lift run's last.ckpt and best checkpoint
    assert f"resuming from {max_checkpoint} (passed over 2 newer checkpoints of other experiments" in message
    assert "has model.pool: checkpoint 'lift', given 'max')" in message
    with pytest.raises(FileNotFoundError, match=r"no checkpoint of this experiment under .*passed over 4 newer"):
        main(["test", "--config", str(QUICKSTART), *tiny_args(root), "--ckpt_path=last",
              "--model.init_args.pool=avg"])  # fmt: skip


def test_last_resumes_its_own_run_not_another_seed_sharing_the_logger_folder(tmp_path: Path, capsys) -> None:
    """Two runs of the same model with their own ``default_root_dir`` but one logger ``save_dir`` (as the W&B preset
    has it): ``last`` for the first never resumes the second's newer checkpoint (another seed)."""
    study = tmp_path / "study"

    def fit(run: str, seed: int, *extra: str) -> None:
        main(["fit", "--config", str(QUICKSTART), *TINY_SYNTHETIC, f"--trainer.default_root_dir={study / run}",
              f"--trainer.logger.init_args.save_dir={study}", f"--seed_everything={seed}", *extra])  # fmt: skip

    fit("a", 1, "--trainer.max_epochs=1")
    fit("b", 2, "--trainer.max_epochs=1")  # newer, same model options, other seed
    (own,) = [
        path for path in study.rglob("last.ckpt") if torch.load(path)["liftpool_experiment"]["seed_everything"] == 1
    ]
    (other,) = [path for path in study.rglob("last.ckpt") if path != own]
    assert other.stat().st_mtime >= own.stat().st_mtime
    capsys.readouterr()
    fit("a", 1, "--trainer.max_epochs=2", "--ckpt_path=last")
    message = capsys.readouterr().err
    assert (
        f"resuming from {own} (passed over 2 newer checkpoints of other experiments; the newest, {other}, has "
        "seed_everything: checkpoint 2, given 1)" in message
    )
    fit("c", 3, "--trainer.max_epochs=1", "--ckpt_path=last", "--data.num_train=40")
    assert "no checkpoint of this experiment" in capsys.readouterr().err  # a new seed and data size: from scratch


def test_last_is_the_latest_state_of_the_run_whatever_the_file_name(tmp_path: Path) -> None:
    """A ``last.ckpt`` written every N steps is older than the epoch checkpoint beside it: the epoch's is resumed;
    at equal steps ``last.ckpt`` is."""
    folder = tmp_path / "version_0" / "checkpoints"
    folder.mkdir(parents=True)

    def write(name: str, step: int, mtime: int) -> Path:
        torch.save(
            {"state_dict": {}, "hyper_parameters": SAVED, "global_step": step, "epoch": step // 10}, folder / name
        )
        os.utime(folder / name, (mtime, mtime))
        return folder / name

    write("last.ckpt", 1000, 300)  # the every-1000-steps checkpoint, saved last
    epoch = write("epoch=1-step=1240.ckpt", 1240, 200)
    assert search_last_checkpoint([tmp_path]).found == epoch
    last = write("last.ckpt", 1240, 100)
    assert search_last_checkpoint([tmp_path]).found == last


def test_resume_takes_the_epoch_checkpoint_newer_than_last(tmp_path: Path, capsys) -> None:
    run = ["fit", "--config", str(QUICKSTART), *tiny_args(tmp_path)]
    main([*run, "--trainer.max_epochs=1"])
    folder = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    stale = (folder / "last.ckpt").read_bytes()
    main([*run, "--trainer.max_epochs=2", "--ckpt_path=last"])
    for path in tmp_path.rglob("last.ckpt"):  # as a last.ckpt saved every N steps leaves it: behind the epoch's
        path.write_bytes(stale)
    epochs = {path: torch.load(path)["global_step"] for path in tmp_path.rglob("epoch=*.ckpt")}
    latest = max(epochs, key=epochs.get)
    assert epochs[latest] > torch.load(folder / "last.ckpt")["global_step"]  # the best epoch is the second here
    capsys.readouterr()
    main([*run, "--trainer.max_epochs=3", "--ckpt_path=last"])
    assert f"resuming from {latest}" in capsys.readouterr().err


def test_an_option_added_later_resumes_checkpoints_that_predate_it_at_its_former_value() -> None:
    before = {"seed_everything": 0, "model": {"class_path": "ClassificationTask", "init_args": {"pool": "lift"}}}
    now = {"seed_everything": 0, "model": {"class_path": "ClassificationTask", "init_args": {"pool": "lift"}}}
    now["model"]["init_args"]["pool_lr_scale"] = 1.0
    assert identity_differences(before, now) == []
    now["model"]["init_args"]["pool_lr_scale"] = 10.0
    assert identity_differences(before, now) == ["model.pool_lr_scale: checkpoint 1.0, given 10.0"]
    assert model_differences(now["model"], {"pool": "lift"}) == ["pool_lr_scale: checkpoint 1.0, given 10.0"]
    assert model_differences({"init_args": {"pool": "lift", "pool_lr_scale": 1.0}}, {"pool": "lift"}) == []
    other = {"seed_everything": 0, "model": {"class_path": "MyModule", "init_args": {"width": 4}}}
    assert identity_differences(other, other) == []  # a module without the option is not given it


def test_added_options_name_the_tasks_default() -> None:
    import inspect

    from liftpool_lightning.checkpointing.experiment import ADDED_MODEL_OPTIONS
    from liftpool_lightning.tasks import BaseTask, ClassificationTask, SegmentationTask

    for task in (BaseTask, ClassificationTask, SegmentationTask):
        parameters = inspect.signature(task.__init__).parameters
        assert {name: parameters[name].default for name in ADDED_MODEL_OPTIONS} == ADDED_MODEL_OPTIONS
