"""What the classification and segmentation tasks share: the network, the lifting losses, optimisers, logging."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from lightning import LightningModule
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection

from liftpool_lightning.callbacks.prediction_writer import PredictionWriter
from liftpool_lightning.checkpointing.compatibility import (
    architecture_mismatch,
    optimizer_mismatch,
    state_dict_mismatch,
)
from liftpool_lightning.models.registry import create_network, set_pooling_report, swap_pooling
from liftpool_lightning.nn import lifting_losses
from liftpool_lightning.tasks.learning_rates import parameter_groups, scale_group_rates

if TYPE_CHECKING:
    from lightning.fabric.utilities.data import AttributeDict


def check_schedule_length(scheduler: Any, interval: str, trainer: Any) -> None:
    """Raise, before training, where a scheduler of fixed length (``OneCycleLR``'s ``total_steps``) would run out
    before the run ends: torch fails mid-run at its last step otherwise, naming neither option."""
    total = getattr(scheduler, "total_steps", None)
    if not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) or total is None:
        return
    if interval == "step":
        needed, unit = trainer.estimated_stepping_batches, "optimizer steps"
    else:
        needed, unit = trainer.max_epochs, "epochs"
    if needed is None or needed < 0 or needed == float("inf") or needed > total:
        run = "an unbounded number of" if needed is None or needed < 0 or needed == float("inf") else int(needed)
        raise ValueError(
            f"lr_scheduler OneCycleLR has total_steps={total} but this run takes {run} {unit} (trainer.max_epochs="
            f"{trainer.max_epochs}, scheduler_interval {interval!r}); set model.init_args.lr_scheduler.init_args."
            f"total_steps to at least {run if isinstance(run, int) else 'the run length'} or shorten the run"
        )


def hyperparameters(task: LightningModule) -> AttributeDict:
    """``task.hparams``: the ``AttributeDict`` that ``save_hyperparameters`` fills (Lightning types the property as
    ``AttributeDict | MutableMapping``, which has no attribute access)."""
    return cast("AttributeDict", task.hparams)


class BaseTask(LightningModule):
    """A network (by registry name, or any nn.Module) whose pooling is swapped, trained with the task loss plus
    ``lambda_u * sum(c_u) + lambda_p * sum(c_p)`` over every LiftPool layer.

    Subclasses define ``configure_losses``, ``configure_metrics`` and the steps (``shared_step``).

    Args:
        network: a registered network name (see ``liftpool_lightning.models.network_names``), ``timm/<name>`` for
            any timm model (the ``[timm]`` extra, e.g. ``timm/efficientnet_b0``) or an nn.Module
            (``class_path``/``init_args`` in a config).
        num_classes: output classes (the CLI links it from the datamodule).
        pool: pool put in place of the network's own (``lift``, ``wavelet``, ``max``, ``avg``, ``skip``, ``blur``,
            ``mixed``, ``gated``); None keeps the network as published.
        pool_options: options of the pool, e.g. ``{kernel_size: 3, bands: [ll]}`` for ``lift``.
        up_pool: up-pooling of encoder-decoder networks: ``maxunpool``, ``maxunpool+blur``, ``lift`` or ``bilinear``.
        strided_convs: swap strided convolutions too (default: only for networks without pooling layers).
        weights: torchvision weights name for the network (or its backbone), or timm's pretrained tag for a
            ``timm/`` network (``a1_in1k``, ``resnet18.a1_in1k`` or ``default``); None: random initialisation.
        backbone_checkpoint: checkpoint to initialise a segmentation backbone from (e.g. a LiftPool ResNet50).
        input_size: side of the example image for the surgery's dry run (default: the network's usual size).
        lambda_u: weight of the update constraint c_u (paper: 0.01); 0 disables it.
        lambda_p: weight of the predict constraint c_p (paper: 0.1); 0 disables it.
        pool_lr_scale: learning rate of the learned pools' parameters (LiftPool's P and U, a mixed or gated pool's
            weights) as a multiple of the optimizer's, every rate the scheduler sets included; 1: one rate for all.
        optimizer: optimiser factory, e.g. ``{class_path: torch.optim.SGD, init_args: {lr: 0.1, momentum: 0.9}}``.
        lr_scheduler: learning-rate scheduler factory, e.g. ``torch.optim.lr_scheduler.MultiStepLR``; None: constant.
        scheduler_interval: step the scheduler every ``epoch`` or every optimisation ``step``.
        prediction_dir: where ``predict`` writes its outputs (see ``PredictionWriter``); None: the run's log
            dir + ``/predictions``.
    """

    criterion: nn.Module  # set by configure_losses
    train_metrics: MetricCollection  # set by configure_metrics
    val_metrics: MetricCollection
    test_metrics: MetricCollection

    def __init__(
        self,
        network: str | nn.Module,
        num_classes: int,
        pool: str | None = None,
        pool_options: dict[str, Any] | None = None,
        up_pool: str | None = None,
        strided_convs: bool | None = None,
        weights: str | None = None,
        backbone_checkpoint: str | None = None,
        input_size: int | None = None,
        lambda_u: float = 0.01,
        lambda_p: float = 0.1,
        pool_lr_scale: float = 1.0,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        prediction_dir: str | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("lambda_u", lambda_u), ("lambda_p", lambda_p)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not pool_lr_scale > 0:
            raise ValueError(f"pool_lr_scale must be > 0, got {pool_lr_scale}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        # prediction_dir is a run setting, not part of the model: kept out of the checkpoint so that
        # `predict --ckpt_path ... --model.prediction_dir DIR` is not overridden by the checkpoint's hparams
        ignore = ["optimizer", "lr_scheduler", "prediction_dir"]
        ignore += ["network"] if isinstance(network, nn.Module) else []
        self.save_hyperparameters(ignore=ignore)
        self.prediction_dir = prediction_dir
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.network = self._build_network(network)
        if pool_lr_scale != 1:
            parameter_groups(self.network, pool_lr_scale)  # raises, naming the option, where no pool is learned
        self.configure_losses()
        self.configure_metrics()

    def _build_network(self, network: str | nn.Module) -> nn.Module:
        hp = hyperparameters(self)
        if isinstance(network, str):
            return create_network(
                network,
                num_classes=hp.num_classes,
                pool=hp.pool,
                pool_options=hp.pool_options,
                up_pool=hp.up_pool,
                strided_convs=hp.strided_convs,
                weights=hp.weights,
                backbone_checkpoint=hp.backbone_checkpoint,
                input_size=hp.input_size,
            )
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be a registered name or an nn.Module, got {type(network).__name__}")
        report = swap_pooling(
            network, hp.pool, hp.pool_options, hp.up_pool, bool(hp.strided_convs), hp.input_size or 224
        )
        set_pooling_report(network, report)
        return network

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse, in one line naming the differences, a checkpoint of another network, pool or class count
        (instead of torch's long missing/unexpected-keys error after the loading has started), and, when resuming a
        fit, an optimizer state the configured optimizer cannot take (torch would fail at the first step)."""
        problems = architecture_mismatch(checkpoint.get("hyper_parameters", {}), self.hparams)
        problems += state_dict_mismatch(checkpoint.get("state_dict", {}), self.state_dict())
        if problems:
            raise ValueError(
                "the checkpoint does not fit this model (a different network or pool configuration): "
                + "; ".join(problems)
            )
        if self._trainer is not None and self.trainer.state.fn == "fit":  # resuming: the optimizer state too
            problem = optimizer_mismatch(checkpoint, self.optimizer_factory)
            if problem:
                raise ValueError(problem)

    def configure_losses(self) -> None:
        """Set ``self.criterion``."""
        raise NotImplementedError

    def configure_metrics(self) -> None:
        """Set ``self.train_metrics``, ``self.val_metrics``, ``self.test_metrics`` (one collection, cloned)."""
        raise NotImplementedError

    def metric_inputs(self, logits: Tensor) -> Tensor:
        """What the metrics take from the network's output (logits by default)."""
        return logits

    def shared_step(self, batch: Any, split: str) -> Tensor:
        """Task loss + weighted lifting losses of one batch; logs the losses and updates the split's metrics."""
        images, targets = batch
        logits = self.network(images)
        task_loss = self.criterion(logits, targets)
        loss = task_loss + self.lifting_terms(split, len(images))
        self.log_losses(split, task_loss, loss, len(images))
        metrics = {"train": self.train_metrics, "val": self.val_metrics, "test": self.test_metrics}[split]
        metrics(self.metric_inputs(logits.detach()), targets)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=len(images))
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.shared_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.shared_step(batch, "test")

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)

    def lifting_terms(self, split: str, batch_size: int) -> Tensor:
        """Weighted constraint losses of the last forward; logs c_u, c_p and their weighted sum."""
        found = lifting_losses(self.network)
        if not found:
            return torch.zeros((), device=self.device)
        c_u = torch.stack([losses.c_u for losses in found.values()]).sum()
        c_p = torch.stack([losses.c_p for losses in found.values()]).sum()
        hp = hyperparameters(self)
        weighted = hp.lambda_u * c_u + hp.lambda_p * c_p
        on_step = split == "train"
        for name, value in (("c_u", c_u), ("c_p", c_p), ("lifting_loss", weighted)):
            self.log(f"{split}/{name}", value.detach(), on_step=on_step, on_epoch=True, sync_dist=not on_step,
                     batch_size=batch_size)  # fmt: skip
        return weighted

    def log_losses(self, split: str, task_loss: Tensor, loss: Tensor, batch_size: int) -> None:
        on_step = split == "train"
        self.log(f"{split}/task_loss", task_loss.detach(), on_step=on_step, on_epoch=True, sync_dist=not on_step,
                 batch_size=batch_size)  # fmt: skip
        self.log(f"{split}/loss", loss.detach(), on_step=on_step, on_epoch=True, sync_dist=not on_step,
                 prog_bar=True, batch_size=batch_size)  # fmt: skip
        if split == "train" and self._trainer is not None and self.trainer.optimizers:
            self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True, on_epoch=False,
                     batch_size=batch_size)  # fmt: skip

    def configure_callbacks(self) -> list[Callback]:
        """``predict`` writes its outputs to files (masks as PNGs, class probabilities as CSV)."""
        return [PredictionWriter(self.prediction_dir)]

    def on_train_start(self) -> None:
        """Check, before the first step, that no scheduler runs out before the run ends (here, not when the
        optimizers are built: counting the steps then would set up the training data before a resume restores it)."""
        for config in self.trainer.lr_scheduler_configs:
            check_schedule_length(config.scheduler, config.interval, self.trainer)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(parameter_groups(self, hyperparameters(self).pool_lr_scale))
        scheduler = None if self.lr_scheduler_factory is None else self.lr_scheduler_factory(optimizer)
        scale_group_rates(optimizer, scheduler)
        if scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": hyperparameters(self).scheduler_interval},
        }
