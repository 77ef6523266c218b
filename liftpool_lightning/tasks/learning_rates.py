"""A learning rate of their own for the pools' parameters: the optimizer's parameter groups, and every rate a
scheduler sets scaled for that group (``OneCycleLR`` with a scalar ``max_lr`` gives every group the same rates)."""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim import Optimizer

from liftpool_lightning.nn import LiftDownPoolNd
from liftpool_lightning.nn.baselines import GatedPool, MixedPool

#: The key a parameter group keeps its scale under (saved with the optimizer's state, so a resumed run keeps it).
SCALE_KEY = "lr_scale"
_LEARNED_POOLS = (LiftDownPoolNd, MixedPool, GatedPool)
_GROUP_RATES = ("lr", "initial_lr", "max_lr", "min_lr")  # a group's rates that schedulers set and read
_SCHEDULER_RATES = ("base_lrs", "max_lrs", "_last_lr")  # per-group lists that schedulers keep


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
            f"pool_lr_scale={pool_lr_scale}: the network has no learned pool parameters to scale (a learned pool is "
            "lift, lift_paper, mixed or gated)"
        )
    in_pools = {id(parameter) for parameter in pools}
    rest = [parameter for parameter in module.parameters() if id(parameter) not in in_pools]
    return [{"params": rest}, {"params": pools, SCALE_KEY: float(pool_lr_scale)}]


def scale_group_rates(optimizer: Optimizer, scheduler: Any = None) -> None:
    """Multiply every rate of a group that has ``SCALE_KEY`` by it: the group's own (``lr``, and ``initial_lr``,
    ``max_lr``, ``min_lr`` where a scheduler set them) and the scheduler's per-group lists, nested schedulers
    (``SequentialLR``, ``ChainedScheduler``) included. Call it once, after the scheduler is built."""
    schedulers = [scheduler] if scheduler is not None else []
    for nested in schedulers:
        schedulers += list(getattr(nested, "_schedulers", []))
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
            if isinstance(group.get(key), (int, float)):
                group[key] *= scale
        for rates in lists.values():
            rates[index] *= scale
