"""Saving a bundle: ``save_pretrained`` from a task or network, ``bundle_checkpoint`` from a ``liftpool fit``
checkpoint."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from liftpool_lightning import __version__
from liftpool_lightning.hub.card import model_card, training_record
from liftpool_lightning.hub.config import LIBRARY_NAME, resolved_config
from liftpool_lightning.hub.extra import require_extra
from liftpool_lightning.hub.files import CARD_NAME, CONFIG_NAME, TRAINING_CONFIG_NAME, WEIGHTS_NAME


def _readable_as_any_file(path: Path) -> None:
    """Give ``path`` the mode a file the user creates gets (safetensors writes its file owner-only, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def save_pretrained(
    model_or_task: nn.Module,
    folder: str | Path,
    *,
    config: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write ``model.safetensors``, ``config.json`` and a ``README.md`` model card to ``folder`` (created; files of
    these names in it are replaced).

    Args:
        model_or_task: a task (its network is saved), or a network from ``create_model`` / ``from_pretrained``, or
            any registered network together with ``config``.
        config: the network config (see :func:`network_config`) when the model does not carry one.
        training: what the card says about training (see :func:`training_record`): data, metrics, command.
        repo_id: the Hub repository the card's usage example loads from (default: the folder's path;
            ``push_to_hub`` puts in the repository it uploads to).
    Returns:
        the folder.
    """
    safetensors_torch = require_extra("safetensors.torch", "saving a bundle")
    resolved = resolved_config(model_or_task, config)
    network = _network_of(model_or_task)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output {folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    # a copy of each tensor: safetensors refuses tensors sharing memory, and it needs them contiguous on the CPU
    state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in network.state_dict().items()}
    metadata = {"format": "pt", "library": LIBRARY_NAME, "network": resolved["network"], "version": __version__}
    safetensors_torch.save_file(state, str(folder / WEIGHTS_NAME), metadata=metadata)
    _readable_as_any_file(folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(json.dumps(resolved, indent=2) + "\n", encoding="utf-8")
    config_text = (training or {}).get("config_text")
    if config_text:
        (folder / TRAINING_CONFIG_NAME).write_text(config_text, encoding="utf-8")
    parameters = sum(tensor.numel() for tensor in network.parameters())
    card = model_card(resolved, training, repo_id or str(folder), parameters, _lift_layer_count(network))
    (folder / CARD_NAME).write_text(card, encoding="utf-8")
    return folder


def _lift_layer_count(network: nn.Module) -> tuple[int, int]:
    from liftpool_lightning.nn import LiftDownPoolNd, LiftUpPoolNd

    modules = list(network.modules())
    return sum(isinstance(m, LiftDownPoolNd) for m in modules), sum(isinstance(m, LiftUpPoolNd) for m in modules)


def _network_of(model_or_task: nn.Module) -> nn.Module:
    network = getattr(model_or_task, "network", None)
    hparams = getattr(model_or_task, "hparams", None)
    if isinstance(network, nn.Module) and isinstance(hparams, Mapping):  # a task: its network is what is shared
        return network
    if not isinstance(model_or_task, nn.Module):
        raise TypeError(f"expected a network or a task (nn.Module), got {type(model_or_task).__name__}")
    return model_or_task


def bundle_checkpoint(
    ckpt_path: str | Path,
    output: str | Path,
    *,
    training_config: str | Path | None = None,
    overwrite: bool = False,
    repo_id: str | None = None,
) -> Path:
    """Write the bundle of a ``liftpool fit`` checkpoint to ``output``: its network's weights, config and a model card
    from the run (the run's config.yaml and metrics.csv are found next to the checkpoint or one folder up, or give
    ``training_config``). ``output`` must be empty or absent unless ``overwrite``."""
    from liftpool_lightning.checkpointing import check_checkpoint_file
    from liftpool_lightning.checkpointing.build import task_from_checkpoint

    require_extra("safetensors", "liftpool bundle")
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"output {output} is a file, not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"output {output} is not empty; give another folder, or --overwrite to write into it")
    checkpoint = check_checkpoint_file(ckpt_path)  # one-line errors for missing, truncated or foreign files
    training = training_record(ckpt_path, checkpoint, training_config)
    task = task_from_checkpoint(ckpt_path)  # the same building as `liftpool export` and `liftpool visualize`
    return save_pretrained(task, output, training=training, repo_id=repo_id)
