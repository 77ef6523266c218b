"""``torch.library.opcheck`` for every LiftPool custom op (of every step backend of the registry): schema, fake
(shape) function, autograd registration and AOT dispatch, on the arguments a real LiftDownPool + LiftUpPool forward
and backward pass them (recorded with a dispatch mode)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from liftpool_lightning.nn import LiftDownPool2d, LiftUpPool2d, lifting_loss
from tests.nn.backend_fixtures import backend_params, backend_under_test

OPS = {
    "pytorch": ["lift_rows", "lift_rows_backward", "unlift_rows", "unlift_rows_backward"],
    "native": ["native_lift_rows", "native_lift_rows_backward", "native_unlift_rows", "native_unlift_rows_backward"],
    "triton": ["triton_lift_rows", "triton_lift_rows_backward", "triton_unlift_rows", "triton_unlift_rows_backward"],
}


class _RecordLiftpoolOps(TorchDispatchMode):
    """Keeps the first call of every ``liftpool::`` op: (name, args, kwargs), tensors cloned."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        namespace, name = func.namespace, func._schema.name.split("::")[-1]
        if namespace == "liftpool" and name not in self.calls:
            self.calls[name] = tree_map(lambda a: a.clone() if isinstance(a, torch.Tensor) else a, (args, kwargs))
        return func(*args, **kwargs)


def _recorded_calls(constraint_gradients: str, dtype: torch.dtype) -> dict[str, tuple[tuple[Any, ...], dict]]:
    down = LiftDownPool2d(3, bands="all", init="kaiming", constraint_gradients=constraint_gradients, dtype=dtype)
    up = LiftUpPool2d(down)
    x = torch.randn(2, 3, 6, 8, dtype=dtype, requires_grad=True)
    with _RecordLiftpoolOps() as recorder:
        (up(down(x) * 0.5).square().mean() + lifting_loss(down)).backward()
    return recorder.calls


@pytest.fixture(params=backend_params())  # Triton: ~1 min a test on CPU
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    with backend_under_test(request.param):
        yield request.param


def _with_grad(value: Any) -> Any:
    """Floating tensors of a forward op's arguments require grad, so opcheck exercises its autograd formula."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().requires_grad_()
    return value


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("constraint_gradients", ["operators", "all"])
def test_every_custom_op_passes_opcheck(implementation: str, constraint_gradients: str, dtype: torch.dtype) -> None:
    if implementation == "triton" and dtype == torch.float64:
        pytest.skip("the Triton kernels serve float32 and lower")
    calls = _recorded_calls(constraint_gradients, dtype)
    assert sorted(calls) == sorted(OPS[implementation])  # each op of the implementation ran, and no other
    for name, (args, kwargs) in calls.items():
        op = getattr(torch.ops.liftpool, name).default
        backward = name.endswith("_backward")  # differentiable once: their own autograd formula raises
        if not backward:
            args, kwargs = tree_map(_with_grad, (args, kwargs))
        torch.library.opcheck(op, args, kwargs)
