"""Initialise a (sub)network from a checkpoint this framework or plain torch wrote, e.g. a DeepLabV3+ backbone
from a LiftPool ResNet50 classification checkpoint (the paper initialises segmentation from its ImageNet model)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from liftpool_lightning.checkpointing.resolve import read_checkpoint


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file: a Lightning checkpoint (its ``state_dict``) or a plain state dict."""
    content = read_checkpoint(path)
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        content = content["state_dict"]
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise ValueError(f"{path} holds no state dict (a mapping of names to tensors)")
    return content


def load_matching_weights(module: nn.Module, path: str | Path) -> list[str]:
    """Load every tensor of ``module`` from the checkpoint, whatever prefix the checkpoint puts before the names.

    The prefix (e.g. ``network.`` or ``model.backbone.``) is found from the keys. Keys of the checkpoint that the
    module lacks (a classifier head) are ignored; returns the module keys that were not found. Raises ValueError
    when nothing matches or a shape differs (naming the key), which means a different network or pool.
    """
    state = read_state_dict(path)
    own = module.state_dict()
    prefix = _common_prefix(own, state)
    if prefix is None:
        sample = ", ".join(list(state)[:3])
        raise ValueError(f"{path}: no key matches the module's keys (checkpoint keys look like: {sample})")
    loaded = {}
    for key, value in own.items():
        source = state.get(prefix + key)
        if source is None:
            continue
        if source.shape != value.shape:
            raise ValueError(
                f"{path}: {prefix + key} has shape {tuple(source.shape)}, the module expects {tuple(value.shape)} "
                "(a checkpoint of a different network or pool configuration?)"
            )
        loaded[key] = source
    module.load_state_dict(loaded, strict=False)
    return [key for key in own if key not in loaded]


def _common_prefix(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str | None:
    counts: dict[str, int] = {}
    for key in own:
        for other in state:
            if other == key or other.endswith("." + key):
                prefix = other[: len(other) - len(key)]
                counts[prefix] = counts.get(prefix, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None
