"""Where the constraint losses' gradients go (``constraint_gradients``), in every implementation of the steps.

``all`` is the paper's equations differentiated as they stand (checked against the equations written out here);
``operators`` (the default) gives the same losses, the same parameter gradients for one lifting step, and the input
the gradient of the task alone. Each test runs with the generic autograd path, the PyTorch fused steps and the C++
kernels."""

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from liftpool_lightning import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d, lifting_loss
from tests.nn.backend_fixtures import backend_under_test

POOLS = {1: LiftDownPool1d, 2: LiftDownPool2d, 3: LiftDownPool3d}
SHAPES = {1: (2, 4, 10), 2: (2, 4, 6, 8), 3: (1, 4, 4, 6, 4)}


@pytest.fixture(params=["generic", "pytorch", "native"])
def implementation(request: pytest.FixtureRequest) -> Iterator[dict]:
    """Layer options that select one implementation of the lifting steps (the fused ones by a context)."""
    if request.param == "generic":
        yield {"fused": False}
    else:
        with backend_under_test(request.param):
            yield {}


def _layer(dims: int, seed: int = 0, **options: object) -> nn.Module:
    torch.manual_seed(seed)
    options = {"bands": "all", **options}  # the paper's equations: every band summed
    return POOLS[dims](4, dtype=torch.float64, init="kaiming", **options)  # random P/U: every channel differs


def _grads(layer: nn.Module, x: torch.Tensor, lambdas: tuple[float, float]) -> list[torch.Tensor]:
    out = layer(x)
    loss = out.sin().sum() + lifting_loss(layer, *lambdas)
    return list(torch.autograd.grad(loss, [x, *layer.parameters()]))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_constraints_alone_train_the_operators_but_leave_the_input_alone(dims: int, implementation: dict) -> None:
    x = torch.randn(*SHAPES[dims], dtype=torch.float64, requires_grad=True)
    for mode, reaches_input in (("operators", False), ("all", True)):
        layer = _layer(dims, constraint_gradients=mode, **implementation)
        layer(x)
        inputs = [x, *layer.parameters()]
        grads = torch.autograd.grad(lifting_loss(layer, 0.3, 0.7), inputs, materialize_grads=True)
        assert (grads[0].abs().max() > 1e-6) == reaches_input, mode
        assert all(g.abs().max() > 1e-8 for g in grads[1:]), f"{mode}: a P/U parameter got no gradient"


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_operators_mode_gives_the_input_the_task_gradient(dims: int, implementation: dict) -> None:
    x = torch.randn(*SHAPES[dims], dtype=torch.float64, requires_grad=True)
    with_constraints = _grads(_layer(dims, **implementation), x, (0.3, 0.7))
    task_only = _grads(_layer(dims, **implementation), x, (0.0, 0.0))
    torch.testing.assert_close(with_constraints[0], task_only[0], rtol=1e-10, atol=1e-12)
    assert any((a - b).abs().max() > 1e-6 for a, b in zip(with_constraints[1:], task_only[1:], strict=True))


def test_one_step_parameter_gradients_do_not_depend_on_the_mode(implementation: dict) -> None:
    """A single lifting step (1D): detaching the input inside the losses changes no parameter gradient."""
    x = torch.randn(*SHAPES[1], dtype=torch.float64, requires_grad=True)
    operators = _grads(_layer(1, constraint_gradients="operators", **implementation), x, (0.3, 0.7))
    paper = _grads(_layer(1, constraint_gradients="all", **implementation), x, (0.3, 0.7))
    for got, expected in zip(operators[1:], paper[1:], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    assert (operators[0] - paper[0]).abs().max() > 1e-6


def _equations(layer: nn.Module, x: torch.Tensor, detach: bool) -> tuple[torch.Tensor, ...]:
    """One 1D lifting step written out from the paper: split, d = x_o - P(x_e), s = x_e + U(d), and the constraints
    c_u = mean((U(d) + x_e - x_o)^2), c_p = mean(d^2); with ``detach`` the constraints see a detached input."""
    x_e, x_o = x[..., 0::2], x[..., 1::2]
    d = x_o - layer.predict(x_e, 2)
    s = x_e + layer.update(d, 2)
    if detach:
        x_e, x_o = x_e.detach(), x_o.detach()
    loss_d = x_o - layer.predict(x_e, 2)
    c_u = (layer.update(loss_d, 2) + x_e - x_o).pow(2).mean()
    c_p = loss_d.pow(2).mean()
    return s + d, c_u, c_p


@pytest.mark.parametrize("mode", ["all", "operators"])
def test_a_step_is_the_papers_equations(mode: str, implementation: dict) -> None:
    layer = _layer(1, constraint_gradients=mode, **implementation)
    x = torch.randn(*SHAPES[1], dtype=torch.float64, requires_grad=True)
    out = layer(x)
    c_u, c_p = layer.last_losses
    expected_out, expected_c_u, expected_c_p = _equations(layer, x, detach=mode == "operators")
    for got, expected in ((out, expected_out), (c_u, expected_c_u), (c_p, expected_c_p)):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    weights = torch.randn_like(out)
    inputs = [x, *layer.parameters()]
    got = torch.autograd.grad((out * weights).sum() + 0.3 * c_u + 0.7 * c_p, inputs)
    expected = torch.autograd.grad((expected_out * weights).sum() + 0.3 * expected_c_u + 0.7 * expected_c_p, inputs)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_fixed_stencils_have_nothing_to_train() -> None:
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    layer = LiftDownPool2d(lifting="legall53")
    layer(x)
    loss = lifting_loss(layer, 0.3, 0.7)
    assert loss.item() > 0 and not loss.requires_grad
    paper = LiftDownPool2d(lifting="legall53", constraint_gradients="all")
    paper(x)
    assert lifting_loss(paper, 0.3, 0.7).requires_grad


def test_unknown_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="constraint_gradients must be one of 'operators', 'all'"):
        LiftDownPool2d(4, constraint_gradients="features")
