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
