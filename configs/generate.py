"""Write the experiment configs of the paper's tables from their recipes: ``python configs/generate.py``.

Each experiment is one self-contained YAML (``liftpool fit --config configs/cifar100/vgg13_lift.yaml``); trainer and
logger presets compose on top (``--config configs/trainer/ddp.yaml --config configs/logger/wandb.yaml``). A test
checks that the committed files are exactly what this script writes, so edit the recipes here, not the YAMLs.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent


def _checkpoint(monitor: str, mode: str, latest_every_n_steps: int | None = None) -> list[dict[str, Any]]:
    """The best checkpoint by ``monitor``, and ``last.ckpt``: the latest state, rewritten every epoch (or every
    ``latest_every_n_steps`` steps for long epochs), which ``--ckpt_path last`` resumes from. (Lightning's own
    ``save_last`` only refreshes last.ckpt when a best checkpoint is written, so it can lag behind.)"""
    latest: dict[str, Any] = {"filename": "last", "enable_version_counter": False}
    if latest_every_n_steps:
        latest["every_n_train_steps"] = latest_every_n_steps
    return [
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"monitor": monitor, "mode": mode}},
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": latest},
    ]


def _sgd(lr: float, weight_decay: float, momentum: float = 0.9) -> dict[str, Any]:
    return {
        "class_path": "torch.optim.SGD",
        "init_args": {"lr": lr, "momentum": momentum, "weight_decay": weight_decay},
    }


# CIFAR-100, VGG13-BN (Tables 1-3): SGD, batch 100, lr 0.1 x0.1 at epochs 80 and 120, 160 epochs, wd 5e-4.
CIFAR = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 160, "callbacks": _checkpoint("val/top1_error", "min")},
    "model": {
        "class_path": "ClassificationTask",
        "init_args": {
            "network": "vgg13_bn_cifar",
            "pool": "lift",
            "lambda_u": 0.01,
            "lambda_p": 0.1,
            "optimizer": _sgd(0.1, 5e-4),
            "lr_scheduler": {
                "class_path": "torch.optim.lr_scheduler.MultiStepLR",
                "init_args": {"milestones": [80, 120], "gamma": 0.1},
            },
        },
    },
    "data": {"class_path": "CIFAR100DataModule", "init_args": {"root": "data", "batch_size": 100, "num_workers": 4}},
}

# ImageNet (Table 4): torchvision's reference recipes, written for 8 GPUs x 32 images (use configs/trainer/ddp.yaml).
IMAGENET_RESNET = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 90, "callbacks": _checkpoint("val/top1_error", "min", latest_every_n_steps=1000)},
    "model": {
        "class_path": "ClassificationTask",
        "init_args": {
            "network": "resnet18",
            "pool": "lift",
            "optimizer": _sgd(0.1, 1e-4),
            "lr_scheduler": {
                "class_path": "torch.optim.lr_scheduler.StepLR",
                "init_args": {"step_size": 30, "gamma": 0.1},
            },
        },
    },
    "data": {
        "class_path": "ImageNetDataModule",
        "init_args": {"root": "data/imagenet", "batch_size": 32, "num_workers": 8},
    },
}
IMAGENET_MOBILENET = copy.deepcopy(IMAGENET_RESNET)
IMAGENET_MOBILENET["trainer"]["max_epochs"] = 300
IMAGENET_MOBILENET["model"]["init_args"].update(
    network="mobilenet_v2",
    optimizer=_sgd(0.045, 4e-5),
    lr_scheduler={"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 1, "gamma": 0.98}},
)

# PASCAL VOC 2012 + SBD (Tables 6-7): SGD with a poly schedule (power 0.9) over the epochs.
VOC_SEGNET = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 50, "callbacks": _checkpoint("val/miou", "max")},
    "model": {
        "class_path": "SegmentationTask",
        "init_args": {
            "network": "segnet_vgg13_bn",
            "pool": "lift",
            "up_pool": "lift",
            "input_size": 320,
            "optimizer": _sgd(0.01, 5e-4),
            "lr_scheduler": {
                "class_path": "torch.optim.lr_scheduler.PolynomialLR",
                "init_args": {"total_iters": 50, "power": 0.9},
            },
        },
    },
    "data": {
        "class_path": "VOCSegmentationDataModule",
        "init_args": {"root": "data", "sbd_root": "data/benchmark_RELEASE", "crop_size": 320, "batch_size": 8},
    },
}
VOC_DEEPLAB = copy.deepcopy(VOC_SEGNET)
VOC_DEEPLAB["trainer"]["max_epochs"] = 46  # about 30k iterations of batch 16 over the 10,582 trainaug images
VOC_DEEPLAB["model"]["init_args"].update(
    network="deeplabv3plus_resnet50",
    up_pool=None,
    input_size=513,
    weights="IMAGENET1K_V1",
    optimizer=_sgd(0.01, 1e-4),
    lr_scheduler={
        "class_path": "torch.optim.lr_scheduler.PolynomialLR",
        "init_args": {"total_iters": 46, "power": 0.9},
    },
)
VOC_DEEPLAB["data"]["init_args"].update(crop_size=513, batch_size=16)


def _variant(base: dict[str, Any], **model_args: Any) -> dict[str, Any]:
    config = copy.deepcopy(base)
    config["model"]["init_args"].update(model_args)
    return config


def experiments() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every experiment config by relative path, with its one-line description."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for pool in ("max", "avg", "skip", "lift"):
        out[f"cifar100/vgg13_{pool}.yaml"] = (
            f"Table 3: VGG13-BN on CIFAR-100 with {pool} pooling",
            _variant(CIFAR, pool=pool),
        )
    for band in ("ll", "lh", "hl", "hh"):
        out[f"cifar100/vgg13_lift_{band}.yaml"] = (
            f"Table 1: LiftDownPool keeping only the {band.upper()} sub-band (the defaults otherwise)",
            _variant(CIFAR, pool_options={"bands": [band]}),
        )
    out["cifar100/vgg13_lift_paper_constraints.yaml"] = (
        "Table 3: LiftDownPool exactly as the paper (pool lift_paper): all sub-bands summed, random P/U ending in\n"
        "# tanh, c_u and c_p also reach the features (the defaults keep the low band, start it as max pooling with\n"
        "# unbounded P/U and send the losses' gradients to P and U only: docs/layers.md, 'The defaults and how they\n"
        "# differ from the paper')",
        _variant(CIFAR, pool="lift_paper"),
    )
    out["cifar100/vgg13_lift_no_constraints.yaml"] = (
        "Table 1: LiftDownPool (the defaults) without the constraint losses",
        _variant(CIFAR, lambda_u=0.0, lambda_p=0.0),
    )
    for kernel in (2, 3, 4, 5, 7):
        out[f"cifar100/vgg13_lift_k{kernel}.yaml"] = (
            f"Table 2: LiftDownPool with P/U kernel size {kernel}",
            _variant(CIFAR, pool_options={"kernel_size": kernel}),
        )
    for network, base in (
        ("resnet18", IMAGENET_RESNET),
        ("resnet50", IMAGENET_RESNET),
        ("mobilenet_v2", IMAGENET_MOBILENET),
    ):
        baseline = "strided convolutions" if network == "mobilenet_v2" else "max pooling"
        out[f"imagenet/{network}_baseline.yaml"] = (
            f"Table 4: {network} on ImageNet as published ({baseline})",
            _variant(base, network=network, pool=None),
        )
        out[f"imagenet/{network}_lift.yaml"] = (
            f"Table 4: {network} on ImageNet with LiftDownPool",
            _variant(base, network=network, pool="lift"),
        )
    for name, pool, up_pool in (
        ("maxunpool", "max", "maxunpool"),
        ("maxunpool_blur", "max", "maxunpool+blur"),
        ("blur_maxunpool", "blur", "maxunpool"),  # the other reading of "MaxUpPool + BlurPool": BlurPool encoder
        ("lift", "lift", "lift"),
    ):
        out[f"voc/segnet_{name}.yaml"] = (
            f"Table 6: SegNet-VGG13-BN on VOC with {pool} pooling and {up_pool} up-pooling",
            _variant(VOC_SEGNET, pool=pool, up_pool=up_pool),
        )
    for pool in ("max", "blur", "lift"):
        out[f"voc/deeplabv3plus_{pool}.yaml"] = (
            f"Table 7: DeepLabV3+ (ResNet50, output stride 16) on VOC with {pool} pooling in the backbone",
            _variant(VOC_DEEPLAB, pool=pool),
        )
    for relative, (_, config) in out.items():  # each experiment its own run folder: --ckpt_path last stays in it
        config["trainer"] = {"default_root_dir": f"runs/{relative.removesuffix('.yaml')}", **config["trainer"]}
    return out


def render(description: str, config: dict[str, Any]) -> str:
    header = f"# {description}\n# Generated by configs/generate.py: edit the recipe there, then run it.\n"
    return header + yaml.safe_dump(config, sort_keys=False, width=120)


def main(root: Path = ROOT) -> list[Path]:
    written = []
    for relative, (description, config) in experiments().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(description, config))
        written.append(path)
    return written


if __name__ == "__main__":
    paths = main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    print(f"wrote {len(paths)} configs")
