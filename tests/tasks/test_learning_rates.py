"""The pools' own learning rate: every scheduler keeps the pools' group at ``pool_lr_scale`` times the others'."""

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler as schedulers

from liftpool_lightning import LiftDownPool2d
from liftpool_lightning.nn.baselines import MixedPool
from liftpool_lightning.tasks.learning_rates import (
    SCALE_KEY,
    parameter_groups,
    pool_parameters,
    scale_group_rates,
)

SCHEDULERS: dict[str, Callable | None] = {
    "none": None,
    "one_cycle": lambda opt: schedulers.OneCycleLR(opt, max_lr=0.1, total_steps=40),
    "multistep": lambda opt: schedulers.MultiStepLR(opt, milestones=[5, 12], gamma=0.3),
    "cosine": lambda opt: schedulers.CosineAnnealingLR(opt, T_max=30),
    "linear": lambda opt: schedulers.LinearLR(opt, start_factor=0.1, total_iters=10),
    "lambda": lambda opt: schedulers.LambdaLR(opt, lambda step: 0.9**step),
    "sequential": lambda opt: schedulers.SequentialLR(
        opt, [schedulers.LinearLR(opt, start_factor=0.1, total_iters=5), schedulers.CosineAnnealingLR(opt, 20)], [5]
    ),
    "chained": lambda opt: schedulers.ChainedScheduler(
        [schedulers.ExponentialLR(opt, 0.95), schedulers.MultiStepLR(opt, milestones=[8], gamma=0.5)]
    ),
    "cyclic": lambda opt: schedulers.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=6),
    "plateau": lambda opt: schedulers.ReduceLROnPlateau(opt, patience=2, factor=0.5),
    "plateau_floor": lambda opt: schedulers.ReduceLROnPlateau(opt, patience=1, factor=0.5, min_lr=0.01),
}


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), LiftDownPool2d(4), nn.Conv2d(4, 2, 1))


def test_pool_parameters_are_the_learned_pools_own_once() -> None:
    model = nn.Sequential(_model(), MixedPool(2), nn.Conv2d(2, 2, 1))
    found = pool_parameters(model)
    expected = [*model[0][1].parameters(), model[1].alpha]
    assert [id(p) for p in found] == [id(p) for p in expected]
    assert len(found) == len({id(p) for p in found}) and found


def test_scale_one_keeps_a_single_group() -> None:
    groups = parameter_groups(_model(), 1.0)
    assert len(groups) == 1 and SCALE_KEY not in groups[0]


def test_a_scale_without_learned_pools_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"pool_lr_scale=10\.0: the network has no learned pool parameters"):
        parameter_groups(nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2)), 10.0)


@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("scale", [10.0, 0.1])
def test_every_step_keeps_the_pools_rate_at_scale_times_the_others(name: str, scale: float) -> None:
    model = _model()
    groups = parameter_groups(model, scale)
    assert len(groups) == 2 and groups[1][SCALE_KEY] == scale
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in model.parameters()}
    optimizer = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    factory = SCHEDULERS[name]
    scheduler = factory(optimizer) if factory else None
    scale_group_rates(optimizer, scheduler)
    seen = set()
    for _ in range(30):
        rest, pools = (group["lr"] for group in optimizer.param_groups)
        assert pools == pytest.approx(scale * rest, rel=1e-9)
        if scheduler is not None and hasattr(scheduler, "get_last_lr"):
            last = scheduler.get_last_lr()
            assert last[1] == pytest.approx(scale * last[0], rel=1e-9)
        seen.add(round(rest, 12))
        optimizer.step()
        if isinstance(scheduler, schedulers.ReduceLROnPlateau):
            scheduler.step(1.0)
        elif scheduler is not None:
            scheduler.step()
    assert len(seen) > 1 or name == "none"  # the schedule did change the rates


@pytest.mark.parametrize(
    "factory",
    [
        lambda opt: schedulers.CosineAnnealingLR(opt, T_max=30, eta_min=1e-3),
        lambda opt: schedulers.CosineAnnealingWarmRestarts(opt, T_0=5, eta_min=1e-3),
        lambda opt: schedulers.SequentialLR(
            opt, [schedulers.LinearLR(opt), schedulers.CosineAnnealingLR(opt, 9, 1e-4)], [5]
        ),
    ],
)
def test_a_floor_shared_by_every_group_is_refused(factory: Callable) -> None:
    optimizer = torch.optim.SGD(parameter_groups(_model(), 10.0), lr=0.05)
    with pytest.raises(ValueError, match=r"pool_lr_scale: lr_scheduler CosineAnnealing\w* has eta_min="):
        scale_group_rates(optimizer, factory(optimizer))
    unscaled = torch.optim.SGD(parameter_groups(_model(), 1.0), lr=0.05)
    scale_group_rates(unscaled, factory(unscaled))  # one group: nothing to refuse


def test_a_tensor_rate_is_scaled_for_the_pools_group_alone() -> None:
    optimizer = torch.optim.Adam(parameter_groups(_model(), 10.0), lr=torch.tensor(0.01))
    scheduler = schedulers.StepLR(optimizer, step_size=2)
    scale_group_rates(optimizer, scheduler)
    rest, pools = (float(group["lr"]) for group in optimizer.param_groups)
    assert pools == pytest.approx(10 * rest) and rest == pytest.approx(0.01)
    assert [float(rate) for rate in scheduler.base_lrs] == pytest.approx([0.01, 0.1])


def test_a_resumed_optimizer_and_scheduler_keep_the_saved_rates() -> None:
    def build() -> tuple[torch.optim.Optimizer, schedulers.LRScheduler]:
        optimizer = torch.optim.AdamW(parameter_groups(model, 10.0), lr=0.01)
        scheduler = schedulers.OneCycleLR(optimizer, max_lr=0.01, total_steps=20)
        scale_group_rates(optimizer, scheduler)
        return optimizer, scheduler

    model = _model()
    optimizer, scheduler = build()
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    saved = [group["lr"] for group in optimizer.param_groups]
    state = (optimizer.state_dict(), scheduler.state_dict())
    optimizer, scheduler = build()  # as Lightning does: configure_optimizers, then the checkpoint's states
    optimizer.load_state_dict(state[0])
    scheduler.load_state_dict(state[1])
    assert [group["lr"] for group in optimizer.param_groups] == saved
    optimizer.step()
    scheduler.step()
    rest, pools = (group["lr"] for group in optimizer.param_groups)
    assert pools == pytest.approx(10 * rest) and rest != saved[0]
