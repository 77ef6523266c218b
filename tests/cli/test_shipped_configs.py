"""Every shipped experiment config parses and runs one fast_dev_run step on CPU against tiny generated data in the
official on-disk formats; the committed configs are exactly what configs/generate.py writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from liftpool_lightning.cli import main
from tests.cli.conftest import QUICKSTART, ROOT
from tests.data.cifar100 import make_cifar100
from tests.data.imagenet import make_imagenet
from tests.data.voc import make_sbd, make_voc

CONFIGS = ROOT / "configs"
EXPERIMENTS = sorted(p for p in CONFIGS.glob("*/*.yaml") if p.parent.name not in ("trainer", "logger", "robustness"))
FAST = [
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.fast_dev_run=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--data.batch_size=2",
    "--data.num_workers=0",
    "--model.weights=null",  # ImageNet weights cannot be downloaded here
]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """CLI overrides that point each datamodule at tiny data in its real layout."""
    root = tmp_path_factory.mktemp("datasets")
    make_cifar100(root / "cifar")
    make_imagenet(root / "imagenet")
    make_voc(root / "voc")
    make_sbd(root / "sbd")
    return {
        "CIFAR100DataModule": [f"--data.root={root / 'cifar'}"],
        "ImageNetDataModule": [f"--data.root={root / 'imagenet'}"],
        "VOCSegmentationDataModule": [
            f"--data.root={root / 'voc'}",
            f"--data.sbd_root={root / 'sbd'}",
            "--data.crop_size=32",  # SegNet's five pools: 32 -> 1
            "--model.input_size=32",
        ],
    }


def test_the_shipped_experiments_cover_the_papers_tables() -> None:
    names = {p.relative_to(CONFIGS).as_posix() for p in EXPERIMENTS}
    assert len(names) == 28
    assert {"cifar100/vgg13_max.yaml", "cifar100/vgg13_lift_k7.yaml", "cifar100/vgg13_lift_hh.yaml"} <= names
    paper = yaml.safe_load((CONFIGS / "cifar100/vgg13_lift_paper_constraints.yaml").read_text())
    assert paper["model"]["init_args"]["pool"] == "lift_paper"
    assert "pool_options" not in paper["model"]["init_args"]
    assert {"imagenet/resnet50_lift.yaml", "voc/segnet_lift.yaml", "voc/segnet_blur_maxunpool.yaml"} <= names
    assert "voc/deeplabv3plus_lift.yaml" in names


def test_committed_configs_match_the_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate_configs", CONFIGS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in module.main(tmp_path):
        relative = path.relative_to(tmp_path)
        assert (CONFIGS / relative).read_text() == path.read_text(), f"configs/{relative}: run configs/generate.py"


@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_experiment_runs_one_step(config: Path, datasets: dict[str, list[str]], tmp_path: Path) -> None:
    data_class = yaml.safe_load(config.read_text())["data"]["class_path"]
    main(["fit", "--config", str(config), *FAST, f"--trainer.default_root_dir={tmp_path}", *datasets[data_class]])


PRESETS = sorted((CONFIGS / "trainer").glob("*.yaml")) + sorted((CONFIGS / "logger").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_presets_compose_with_an_experiment(preset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(QUICKSTART), "--config", str(preset), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = yaml.safe_load(preset.read_text())["trainer"]
    for key, value in expected.items():
        if isinstance(value, dict):  # class_path + init_args: the given init_args survive among the defaults
            assert printed["trainer"][key]["class_path"] == value["class_path"]
            for name, argument in value.get("init_args", {}).items():
                assert printed["trainer"][key]["init_args"][name] == argument, (key, name)
        else:
            assert printed["trainer"][key] == value, key
    assert printed["model"]["init_args"]["network"] == "small_vgg"  # the experiment's own settings survive
