"""Turn a ``liftpool fit`` checkpoint into its task or its network: the one place ``export``, ``bundle``,
``visualize``, the robustness evaluation and the hub tests build from a checkpoint.

Both rebuild from the checkpoint's hyperparameters and then load its weights, so nothing the run started from is
fetched again: no pretrained download (``weights``) and no ``backbone_checkpoint`` file, which may exist only on the
machine that trained.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from liftpool_lightning.checkpointing.compatibility import state_dict_mismatch
from liftpool_lightning.checkpointing.resolve import check_checkpoint_file
from liftpool_lightning.models.registry import create_network, network_spec

if TYPE_CHECKING:
    from liftpool_lightning.tasks import BaseTask

#: Hyperparameters that say where a run's starting weights came from: not needed to rebuild it (its weights are in
#: the checkpoint), so they are set to None when building from one.
STARTING_POINT_OPTIONS = ("weights", "backbone_checkpoint")


def _hyper_parameters(content: dict[str, Any], path: str | Path) -> dict[str, Any]:
    hparams = content.get("hyper_parameters")
    if not hparams or "network" not in hparams:
        raise ValueError(f"{path} is not a liftpool-lightning task checkpoint (no 'network' hyperparameter)")
    return hparams


def task_from_checkpoint(ckpt_path: str | Path) -> BaseTask:
    """The task (a ``BaseTask``: the class the checkpoint names) of a checkpoint written by this framework, on the
    CPU, in eval mode."""
    path = Path(ckpt_path)
    hparams = _hyper_parameters(check_checkpoint_file(path), path)
    class_path = hparams.get("_class_path")
    if class_path is None:
        task = network_spec(hparams["network"]).task
        class_path = (
            f"liftpool_lightning.tasks.{'SegmentationTask' if task == 'segmentation' else 'ClassificationTask'}"
        )
    module_name, _, class_name = class_path.rpartition(".")
    task_class = getattr(importlib.import_module(module_name), class_name)
    overrides = {key: None for key in STARTING_POINT_OPTIONS if hparams.get(key) is not None}
    return task_class.load_from_checkpoint(path, map_location="cpu", **overrides).eval()


def network_from_checkpoint(content: dict[str, Any], path: str | Path) -> nn.Module:
    """The trained network of a task checkpoint's ``content`` (read from ``path``): rebuilt from its
    hyperparameters and loaded with its weights (the task's ``network.`` entries), without building the task."""
    hparams = _hyper_parameters(content, path)
    options = {key: hparams.get(key) for key in ("pool", "pool_options", "up_pool", "strided_convs", "input_size")}
    network = create_network(hparams["network"], num_classes=hparams["num_classes"], **options)
    state = {k.removeprefix("network."): v for k, v in content["state_dict"].items() if k.startswith("network.")}
    problems = state_dict_mismatch(state, network.state_dict())
    if problems:
        raise ValueError(
            f"{path}: the weights do not fit the network its hyperparameters describe: {'; '.join(problems)}"
        )
    network.load_state_dict(state)
    return network
