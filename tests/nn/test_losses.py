"""Constraint losses c_u, c_p: hand-computed values, summation over lifting steps and layers, lambdas."""

import pytest
import torch
from torch import nn

from liftpool_lightning import LiftDownPool1d, LiftDownPool2d, LiftUpPool2d, lifting_loss, lifting_losses


def test_haar_1d_losses_by_hand() -> None:
    x = torch.tensor([[[1.0, 3.0, 2.0, 2.0, 5.0, -1.0]]], dtype=torch.float64)
    pool = LiftDownPool1d(lifting="haar")
    pool(x)
    even, odd = x[..., 0::2], x[..., 1::2]
    d = odd - even  # [2, 0, -6]
    s = even + d / 2
    assert pool.last_losses.c_p.item() == pytest.approx(d.pow(2).mean().item())  # (4 + 0 + 36) / 3
    assert pool.last_losses.c_p.item() == pytest.approx(40 / 3)
    assert pool.last_losses.c_u.item() == pytest.approx((s - odd).pow(2).mean().item())
    assert pool.last_losses.c_u.item() == pytest.approx(10 / 3)  # = c_p / 4 for Haar


def test_2d_losses_sum_the_three_lifting_steps() -> None:
    pool = LiftDownPool2d(lifting="haar")
    x = torch.randn(2, 1, 6, 8, dtype=torch.float64)
    pool(x)
    # W pass on x, then H passes on s and d, each as its own mean of squares
    d_w = x[..., 1::2] - x[..., 0::2]
    s_w = x[..., 0::2] + d_w / 2
    expected_cp = d_w.pow(2).mean()
    expected_cu = (s_w - x[..., 1::2]).pow(2).mean()
    for t in (s_w, d_w):
        d_h = t[..., 1::2, :] - t[..., 0::2, :]
        s_h = t[..., 0::2, :] + d_h / 2
        expected_cp = expected_cp + d_h.pow(2).mean()
        expected_cu = expected_cu + (s_h - t[..., 1::2, :]).pow(2).mean()
    torch.testing.assert_close(pool.last_losses.c_p, expected_cp)
    torch.testing.assert_close(pool.last_losses.c_u, expected_cu)


class _Net(nn.Module):
    def __init__(self, init: str = "haar") -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), LiftDownPool2d(4, init=init), nn.ReLU())
        self.blocks = nn.ModuleDict({"pool": LiftDownPool2d(4, kernel_size=3, init=init)})
        self.up = LiftUpPool2d(self.blocks["pool"])  # shares the down-pool: counted once

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.blocks["pool"](self.features(x)))


def test_model_helper_weights_and_sums_every_layer_once() -> None:
    net = _Net()
    net(torch.randn(2, 3, 16, 16))
    found = lifting_losses(net)
    assert sorted(found) == ["blocks.pool", "features.1"]
    expected = sum(0.01 * v.c_u + 0.1 * v.c_p for v in found.values())
    torch.testing.assert_close(lifting_loss(net), expected)
    torch.testing.assert_close(lifting_loss(net, lambda_u=0.0, lambda_p=0.0), torch.zeros(()))
    only_u = lifting_loss(net, lambda_u=1.0, lambda_p=0.0)
    torch.testing.assert_close(only_u, sum(v.c_u for v in found.values()))


def test_lifting_loss_trains_the_predictors() -> None:
    net = _Net(init="kaiming")  # random P/U: large losses to bring down
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    x = torch.rand(4, 3, 16, 16)
    net(x)
    before = lifting_loss(net, 1.0, 1.0).item()
    for _ in range(20):
        net(x)
        loss = lifting_loss(net, 1.0, 1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net(x)
    assert lifting_loss(net, 1.0, 1.0).item() < 0.8 * before


def test_no_liftpool_layer_gives_zero() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.MaxPool2d(2))
    model(torch.randn(1, 1, 4, 4))
    loss = lifting_loss(model)
    assert loss.shape == () and loss.item() == 0.0
    assert lifting_loss(nn.ReLU()).item() == 0.0  # no parameters at all
    assert lifting_loss(LiftDownPool2d(2)).item() == 0.0  # not run yet


@pytest.mark.parametrize("kwargs", [{"lambda_u": -0.1}, {"lambda_p": -1}, {"lambda_u": float("nan")}])
def test_negative_lambdas_are_rejected(kwargs: dict) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"{name} must be a non-negative number"):
        lifting_loss(nn.ReLU(), **kwargs)
