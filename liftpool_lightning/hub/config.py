"""The network config: what config.json records so that ``create_network`` rebuilds a network exactly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, cast

from torch import nn

from liftpool_lightning import __version__

LIBRARY_NAME = "liftpool-lightning"
#: config.json keys that ``create_network`` takes (``network_options`` go to the network's constructor).
NETWORK_KEYS = ("network", "num_classes", "pool", "pool_options", "up_pool", "strided_convs", "input_size")
CONFIG_KEYS = (*NETWORK_KEYS, "network_options")


class _Configured(Protocol):
    """A model of ``create_model``: its config kept on it."""

    liftpool_config: dict[str, Any]


def network_config(
    network: str,
    num_classes: int,
    pool: str | None = None,
    pool_options: Mapping[str, Any] | None = None,
    up_pool: str | None = None,
    strided_convs: bool | None = None,
    input_size: int | None = None,
    network_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config.json content that rebuilds a network with ``create_network``: defaults that depend on the network
    (``strided_convs``, ``input_size``) resolved, a LiftPool's every option recorded with this version's defaults
    (``full_pool_options``: a later version with other defaults rebuilds the same layers), everything checked to be
    JSON (a pool given as a class cannot be saved by name)."""
    from liftpool_lightning.models.registry import network_spec
    from liftpool_lightning.surgery.factory import full_pool_options

    if not isinstance(network, str):
        raise TypeError(f"network must be a registered network name to be saved, got {type(network).__name__}")
    spec = network_spec(network)
    if pool is not None and not isinstance(pool, str):
        raise TypeError(f"pool must be a pool name (e.g. 'lift') to be saved, got {type(pool).__name__}")
    config = {
        "network": network,
        "task": spec.task,
        "num_classes": int(num_classes),
        "pool": pool,
        "pool_options": full_pool_options(pool, dict(pool_options) if pool_options else None),
        "up_pool": up_pool,
        "strided_convs": spec.downsamples_by_stride if strided_convs is None else bool(strided_convs),
        "input_size": int(input_size or spec.input_size),
        "network_options": dict(network_options) if network_options else None,
        "library_name": LIBRARY_NAME,
        "library_version": __version__,
    }
    try:
        json.dumps(config)
    except TypeError as error:
        raise TypeError(f"the network config must be JSON (names, numbers, lists, mappings): {error}") from None
    return config


def create_model(
    network: str,
    num_classes: int,
    pool: str | None = None,
    pool_options: Mapping[str, Any] | None = None,
    up_pool: str | None = None,
    strided_convs: bool | None = None,
    input_size: int | None = None,
    weights: str | None = None,
    network_options: Mapping[str, Any] | None = None,
) -> nn.Module:
    """``create_network`` that keeps its config on the model (``model.liftpool_config``), so ``save_pretrained`` and
    ``push_to_hub`` need nothing else. ``weights``: torchvision's weights for the network (or its backbone) before
    the pooling is swapped; not part of the config (a saved bundle holds the weights themselves)."""
    from liftpool_lightning.models.registry import create_network

    config = network_config(network, num_classes, pool, pool_options, up_pool, strided_convs, input_size,
                            network_options)  # fmt: skip
    model = create_network(
        network,
        num_classes=config["num_classes"],
        pool=pool,
        pool_options=config["pool_options"],
        up_pool=up_pool,
        strided_convs=config["strided_convs"],
        weights=weights,
        input_size=config["input_size"],
        **(config["network_options"] or {}),
    )
    cast(_Configured, model).liftpool_config = config  # a plain attribute: torch types Module's for tensors/modules
    return model


def resolved_config(model_or_task: nn.Module, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config of a task (its hyperparameters), of a model from ``create_model`` / ``from_pretrained`` / the
    ``torch.hub`` entry points (``model.liftpool_config``), or ``config`` given for any other network."""
    if config is None:
        hparams = getattr(model_or_task, "hparams", None)
        if isinstance(hparams, Mapping) and isinstance(hparams.get("network"), str):
            config = {key: hparams.get(key) for key in NETWORK_KEYS}
        else:
            config = getattr(model_or_task, "liftpool_config", None)
    if config is None:
        raise ValueError(
            "cannot tell how to rebuild this network: give config={'network': ..., 'num_classes': ..., 'pool': ...}, "
            "or save a task, or a model from liftpool_lightning.hub.create_model / from_pretrained"
        )
    unknown = sorted(set(config) - set(CONFIG_KEYS) - {"task", "library_name", "library_version"})
    if unknown:
        raise ValueError(f"config: unknown keys {', '.join(unknown)}; allowed: {', '.join(CONFIG_KEYS)}")
    if "network" not in config or "num_classes" not in config:
        raise ValueError("config needs 'network' and 'num_classes'")
    options: dict[str, Any] = {key: config.get(key) for key in CONFIG_KEYS}  # checked by network_config
    return network_config(**options)
