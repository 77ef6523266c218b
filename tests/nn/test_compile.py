"""torch.compile: no graph break inside the layer, same numbers as eager (forward, backward, round trip)."""

import pytest
import torch
from torch import nn

from liftpool_lightning import LiftDownPool2d, LiftUpPool2d, lifting_loss

torch._dynamo.config.cache_size_limit = 64


class _EncoderDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.down = LiftDownPool2d(8, bands="ll", init="kaiming")
        self.up = LiftUpPool2d(self.down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(self.conv(x)))


def test_no_graph_break_in_down_and_up_pool() -> None:
    model = _EncoderDecoder()
    explanation = torch._dynamo.explain(model)(torch.randn(2, 3, 9, 10))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compiled_matches_eager_forward_backward_and_losses() -> None:
    model = _EncoderDecoder()
    compiled = torch.compile(model)
    x = torch.randn(2, 3, 9, 10)

    expected = model(x)
    expected_aux = lifting_loss(model)
    (expected.square().mean() + expected_aux).backward()
    expected_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    out = compiled(x)
    aux = lifting_loss(model)
    (out.square().mean() + aux).backward()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(aux, expected_aux, rtol=1e-5, atol=1e-6)
    for grad, expected_grad in zip((p.grad for p in model.parameters()), expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out, model.conv(x), rtol=1e-4, atol=1e-5)  # LL-only down + up is exact


@pytest.mark.slow
@pytest.mark.parametrize("lifting", ["haar", "legall53"])
def test_compiled_fixed_schemes_match_eager(lifting: str) -> None:
    pool = LiftDownPool2d(lifting=lifting)
    x = torch.randn(2, 3, 15, 16)
    torch.testing.assert_close(torch.compile(pool)(x), pool(x))


def _compiled_ops(model: nn.Module, x: torch.Tensor) -> set[str]:
    """The ops of the graph torch.compile captures for ``model(x)``."""
    ops: set[str] = set()

    def backend(graph: torch.fx.GraphModule, example_inputs: list) -> object:
        ops.update(str(node.target) for node in graph.graph.nodes if node.op == "call_function")
        return graph.forward

    torch._dynamo.reset()
    torch.compile(model, backend=backend)(x)
    return ops


@pytest.mark.parametrize("dynamo_knows_export", [True, False])
def test_compiled_takes_the_fused_steps_even_where_dynamo_calls_it_an_export(
    monkeypatch: pytest.MonkeyPatch, dynamo_knows_export: bool
) -> None:
    """Before PyTorch 2.14 TorchDynamo answered ``is_exporting()`` with True under torch.compile too: a compiled
    model took the generic path (measured on 2.11: bfloat16 convolutions under autocast). Simulated here."""
    from liftpool_lightning.nn import backend_config

    model, x = _EncoderDecoder(), torch.randn(2, 3, 9, 10)
    assert any("liftpool" in op for op in _compiled_ops(model, x))  # this PyTorch: the fused custom ops
    # what TorchDynamo < 2.14 said while tracing (outside, torch.compile itself asks and must hear False)
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: torch.compiler.is_dynamo_compiling())
    monkeypatch.setattr(backend_config, "_DYNAMO_KNOWS_EXPORT", dynamo_knows_export)
    ops = _compiled_ops(model, x)
    if dynamo_knows_export:  # a real export from PyTorch 2.14 on: standard ops only
        assert not any("liftpool" in op for op in ops) and any("conv" in op for op in ops)
    else:
        assert any("liftpool" in op for op in ops)
    torch._dynamo.reset()


def test_the_generic_backend_keeps_every_custom_op_out_of_a_traced_graph() -> None:
    """What ``export_model`` exports under: a strict torch.export before PyTorch 2.14 looks like torch.compile to the
    layers, so the block is what keeps the ``liftpool::`` custom ops out of its graph."""
    from liftpool_lightning.nn.backend_config import use_backend

    model, x = _EncoderDecoder(), torch.randn(2, 3, 9, 10)
    with use_backend("generic"):
        ops = _compiled_ops(model, x)
    assert not any("liftpool" in op for op in ops) and any("conv" in op for op in ops)
    assert any("liftpool" in op for op in _compiled_ops(model, x))  # after the block: the fused steps again
    torch._dynamo.reset()
