"""Task pieces outside the CLI: metrics, loss composition, optimisers, checkpoint round trip, bad arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning import Trainer

from liftpool_lightning.data import SyntheticShapesDataModule
from liftpool_lightning.nn import LiftDownPool2d
from liftpool_lightning.tasks import ClassificationTask, MulticlassError, SegmentationTask


def test_multiclass_error_is_one_minus_accuracy() -> None:
    preds = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    target = torch.tensor([0, 2, 2, 1])
    error = MulticlassError(3, top_k=1, average="micro")
    assert error(preds, target).item() == pytest.approx(0.5)
    assert MulticlassError(3, top_k=2, average="micro")(preds, target).item() == pytest.approx(0.25)  # sample 2


def test_lifting_terms_are_added_and_zero_lambdas_drop_them() -> None:
    task = ClassificationTask("small_vgg", num_classes=8, pool="lift", lambda_u=0.5, lambda_p=2.0)
    x = torch.randn(4, 3, 32, 32)
    task.network(x)
    layers = [m for m in task.network.modules() if isinstance(m, LiftDownPool2d)]
    assert len(layers) == 3
    expected = sum(0.5 * m.last_losses.c_u + 2.0 * m.last_losses.c_p for m in layers)
    torch.testing.assert_close(task.lifting_terms("val", 4), expected)
    free = ClassificationTask("small_vgg", num_classes=8, pool="lift", lambda_u=0.0, lambda_p=0.0)
    free.network(x)
    assert free.lifting_terms("val", 4).item() == 0.0
    plain = ClassificationTask("small_vgg", num_classes=8, pool=None)
    plain.network(x)
    assert plain.lifting_terms("val", 4).item() == 0.0  # no LiftPool layer


def test_optimizer_and_scheduler_factories() -> None:
    task = ClassificationTask(
        "small_vgg",
        num_classes=8,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
        lr_scheduler=lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, [80, 120]),
        scheduler_interval="step",
    )
    config = task.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.SGD)
    assert config["lr_scheduler"]["interval"] == "step"
    assert isinstance(ClassificationTask("small_vgg", num_classes=8).configure_optimizers(), torch.optim.Adam)


def test_pool_lr_scale_gives_the_pools_their_own_rate_through_a_fit(tmp_path: Path) -> None:
    data = SyntheticShapesDataModule(num_train=16, num_val=8, batch_size=8)
    task = ClassificationTask(
        "small_vgg",
        num_classes=data.num_classes,
        pool="lift",
        pool_lr_scale=10.0,
        optimizer=lambda params: torch.optim.AdamW(params, lr=0.004),
        lr_scheduler=lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.004, total_steps=4),
        scheduler_interval="step",
    )
    config = task.configure_optimizers()
    rest, pools = config["optimizer"].param_groups
    assert pools["lr"] == pytest.approx(10 * rest["lr"]) and pools["max_lr"] == pytest.approx(0.04)
    layers = [m for m in task.network.modules() if isinstance(m, LiftDownPool2d)]
    assert {id(p) for p in pools["params"]} == {id(p) for m in layers for p in m.parameters()}
    trainer = Trainer(max_epochs=2, default_root_dir=tmp_path, enable_progress_bar=False, logger=False)
    trainer.fit(task, data)
    groups = trainer.optimizers[0].param_groups
    assert groups[1]["lr"] == pytest.approx(10 * groups[0]["lr"]) and groups[0]["lr"] < 0.004
    saved = torch.load(next(tmp_path.rglob("*.ckpt")), weights_only=False)["optimizer_states"][0]["param_groups"]
    assert [group.get("lr_scale", 1.0) for group in saved] == [1.0, 10.0]


def test_fit_and_reload_with_the_trainer_api(tmp_path: Path) -> None:
    data = SyntheticShapesDataModule(num_train=16, num_val=8, batch_size=8)
    task = ClassificationTask("small_vgg", num_classes=data.num_classes, pool="wavelet")
    trainer = Trainer(max_epochs=1, default_root_dir=tmp_path, enable_progress_bar=False, logger=False)
    trainer.fit(task, data)
    path = tmp_path / "task.ckpt"
    trainer.save_checkpoint(path)
    reloaded = ClassificationTask.load_from_checkpoint(path)
    assert reloaded.hparams.pool == "wavelet"
    x = torch.randn(2, 3, 32, 32)
    task.eval()
    reloaded.eval()
    torch.testing.assert_close(reloaded(x), task(x))
    metrics = trainer.validate(reloaded, data, verbose=False)[0]
    assert 0 <= metrics["val/top1_error"] <= 1 and metrics["val/top1_error"] == pytest.approx(
        1 - metrics["val/top1_accuracy"]
    )


def test_segmentation_miou_ignores_255() -> None:
    task = SegmentationTask("segnet_vgg13_bn", num_classes=3, pool=None, input_size=32)
    metric = task.val_metrics["miou"]  # a prefixed MetricCollection is indexed without its prefix
    preds = torch.tensor([[[0, 1], [2, 2]]])
    target = torch.tensor([[[0, 1], [2, 255]]])
    assert metric(preds, target).item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lambda_u": -0.1}, "lambda_u must be >= 0"),
        ({"lambda_p": float("nan")}, "lambda_p must be >= 0"),
        ({"num_classes": 0}, "num_classes must be >= 1"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\)"),
        ({"scheduler_interval": "batch"}, "scheduler_interval must be"),
        ({"network": 3}, "network must be a registered name or an nn.Module"),
        ({"pool_lr_scale": 0.0}, "pool_lr_scale must be > 0"),
        ({"pool": "max", "pool_lr_scale": 10.0}, r"pool_lr_scale=10\.0: the network has no learned pool parameters"),
    ],
)
def test_bad_task_arguments(kwargs: dict, message: str) -> None:
    options = {"network": "small_vgg", "num_classes": 8} | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        ClassificationTask(**options)


def test_any_module_as_network_gets_the_surgery() -> None:
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.LazyLinear(5)
    )
    task = ClassificationTask(network, num_classes=5, pool="lift", input_size=16)
    assert isinstance(task.network[1], LiftDownPool2d)
    assert task.network.pooling_report.paths == ["1"]
    assert "network" not in task.hparams
