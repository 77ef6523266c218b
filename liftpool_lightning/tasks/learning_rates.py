"""A learning rate of their own for the pools' parameters: the optimizer's parameter groups, and every rate a
scheduler sets scaled for that group (``OneCycleLR`` with a scalar ``max_lr`` gives every group the same rates)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from liftpool_lightning.nn import LiftDownPoolNd
from liftpool_lightning.nn.baselines import GatedPool, MixedPool

#: The key a parameter group keeps its scale under (saved with the optimizer's state, so a resumed run keeps it).
SCALE_KEY = "lr_scale"
_LEARNED_POOLS = (LiftDownPoolNd, MixedPool, GatedPool)
_GROUP_RATES = ("lr", "initial_lr", "max_lr", "min_lr")  # a group's rates that schedulers set and read
_SCHEDULER_RATES = ("base_lrs", "max_lrs", "min_lrs", "_last_lr")  # per-group lists that schedulers keep
_SHARED_FLOORS = ("eta_min",)  # one rate for every group (CosineAnnealingLR, CosineAnnealingWarmRestarts)


def pool_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The trained parameters of the learned pools in ``module`` (LiftPool's P and U and its detail weight, a
    mixed or gated pool's mixing weights), each once even where a LiftUpPool shares its LiftDownPool's."""
    seen: set[int] = set()
    found = []
    for layer in module.modules():
        if isinstance(layer, _LEARNED_POOLS):
            for parameter in layer.parameters():
                if parameter.requires_grad and id(parameter) not in seen:
                    seen.add(id(parameter))
                    found.append(parameter)
    return found


def parameter_groups(module: nn.Module, pool_lr_scale: float) -> list[dict[str, Any]]:
    """``module``'s parameters as optimizer groups: one group at scale 1, or, for another scale, the rest and the
    pools' parameters (marked with ``SCALE_KEY``; ``scale_group_rates`` applies it)."""
    if pool_lr_scale == 1:
        return [{"params": list(module.parameters())}]
    pools = pool_parameters(module)
    if not pools:
        raise ValueError(
            f"pool_lr_scale={pool_lr_scale}: the network has no learned pool parameters to scale (LiftPool's P and "
            "U, a mixed or gated pool's weights)"
        )
    in_pools = {id(parameter) for parameter in pools}
    rest = [parameter for parameter in module.parameters() if id(parameter) not in in_pools]
    return [{"params": rest}, {"params": pools, SCALE_KEY: float(pool_lr_scale)}]


def scale_group_rates(optimizer: Optimizer, scheduler: Any = None) -> None:
    """Multiply every rate of a group that has ``SCALE_KEY`` by it: the group's own (``lr``, and ``initial_lr``,
    ``max_lr``, ``min_lr`` where a scheduler set them) and the scheduler's per-group lists (``base_lrs``,
    ``max_lrs``, ``min_lrs``), nested schedulers (``SequentialLR``, ``ChainedScheduler``) included. Call it once,
    after the scheduler is built. A scheduler floor shared by every group (a cosine's ``eta_min``) cannot be scaled
    for one group: a nonzero one is refused."""
    schedulers = [scheduler] if scheduler is not None else []
    for nested in schedulers:
        schedulers += list(getattr(nested, "_schedulers", []))
    if any(group.get(SCALE_KEY, 1.0) != 1 for group in optimizer.param_groups):
        for each in schedulers:
            for name in _SHARED_FLOORS:
                if getattr(each, name, 0):
                    raise ValueError(
                        f"pool_lr_scale: lr_scheduler {type(each).__name__} has {name}={getattr(each, name)}, one "
                        "floor for every parameter group, which cannot be scaled for the pools' group; set it to 0"
                    )
    lists: dict[int, list] = {}  # once per list: a SequentialLR shares its current scheduler's
    for each in schedulers:
        for name in _SCHEDULER_RATES:
            rates = getattr(each, name, None)
            if isinstance(rates, list) and len(rates) == len(optimizer.param_groups):
                lists[id(rates)] = rates
    for index, group in enumerate(optimizer.param_groups):
        scale = group.get(SCALE_KEY, 1.0)
        if scale == 1:
            continue
        for key in _GROUP_RATES:
            if isinstance(group.get(key), (int, float, torch.Tensor)):
                group[key] = group[key] * scale  # a tensor rate gets a new tensor, not one shared with other groups
        for rates in lists.values():
            rates[index] *= scale
