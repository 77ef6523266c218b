"""The Triton kernels (``nn/triton_lifting.py``) in the default run: tiny inputs of every code path through Triton's
interpreter on CPU (the whole batteries run them with ``-m interpreter``), where the registry chooses them, and the
first-use self-check with its fallback to the PyTorch steps."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from liftpool_lightning.nn import LiftDownPool2d, LiftUpPool2d, backend_config, triton_lifting, triton_self_check
from liftpool_lightning.nn.backend_config import use_backend
from liftpool_lightning.nn.backends import explain_backend, select
from tests.nn.backend_fixtures import skip_reason
from tests.nn.triton_parity import TRITON_CASES as CASES
from tests.nn.triton_parity import nan_case, outputs, triton_case

pytestmark = pytest.mark.skipif(skip_reason("triton") is not None, reason=str(skip_reason("triton")))

TINY = {  # the parity cases' code paths on shapes the interpreter runs in seconds
    "1d-zeros-k4-no-bias-all": (2, 3, 11),
    "1d-one-tile-row": (1, 2, 1030),  # 515 samples a half: BLOCK_N 1024
    "2d-channel-blocks-tail": (1, 70, 4, 6),  # a block of 64 and a masked tail of 6
    "2d-one-channel": (2, 1, 4, 5),
    "2d-channels-last": (1, 6, 6, 8),
    "2d-channel-slice": (2, 4, 6, 8),  # two images: the batch strides differ too (heap corruption before)
    "2d-floor-odd": (1, 3, 5, 7),  # a narrowed input (floor mode drops the last row and column)
}


@pytest.fixture
def fresh_verdicts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No self-check verdicts before the test, none left after it."""
    monkeypatch.setattr(triton_self_check, "_verdicts", {})
    yield


@pytest.mark.parametrize("name", list(TINY))
def test_every_code_path_matches_the_generic_path_through_the_interpreter(name: str) -> None:
    triton_case(name, "cpu", torch.float32, shape=TINY[name])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_features_match_the_generic_path(dtype: torch.dtype) -> None:
    triton_case("2d-channel-blocks-tail", "cpu", dtype, shape=(1, 70, 4, 6))


def test_nan_inputs_give_nan_where_the_generic_path_does() -> None:
    nan_case("cpu")


@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.bfloat16, marks=pytest.mark.interpreter)])
@pytest.mark.parametrize(
    "name", [n if n.startswith("1d-zeros") else pytest.param(n, marks=pytest.mark.interpreter) for n in CASES]
)
def test_the_gpu_parity_cases_pass_through_the_interpreter(name: str, dtype: torch.dtype) -> None:
    """``test_cuda.py`` runs these on a GPU with the compiled kernels: here the test itself is checked (the larger
    ones take minutes each through the interpreter: ``-m interpreter``)."""
    triton_case(name, "cpu", dtype)


def test_bfloat16_features_stay_bfloat16_with_float32_losses() -> None:
    layer = LiftDownPool2d(4, bands="all", init="kaiming")
    x = torch.randn(2, 4, 8, 8)
    reference = layer(x)
    with use_backend("triton"):
        pooled = layer(x.bfloat16())
        losses = layer.last_losses
    assert pooled.dtype == torch.bfloat16 and losses.c_u.dtype == losses.c_p.dtype == torch.float32
    torch.testing.assert_close(pooled.float(), reference, rtol=2e-2, atol=2e-2)


def test_a_cpu_tensor_is_refused_unless_triton_interprets(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine with a GPU (no interpreter) the kernels compiled for it must never get a CPU tensor, even when
    forced: those tests skip there instead of running compiled kernels on host memory."""
    x, layer = torch.randn(1, 4, 8, 8), LiftDownPool2d(4)
    with use_backend("triton"):
        assert select(x, layer) is triton_lifting.BACKEND
        monkeypatch.setattr(backend_config, "triton_interpreted", lambda: False)
        assert select(x, layer).name == "generic"
        assert "TRITON_INTERPRET=1" in str(explain_backend(layer, x))
    assert skip_reason("triton") is not None


def test_on_cuda_the_pytorch_steps_are_the_default_and_triton_is_opt_in(
    monkeypatch: pytest.MonkeyPatch, fresh_verdicts: None
) -> None:
    layer = LiftDownPool2d(4)
    monkeypatch.setattr(triton_self_check, "verdict", lambda device, dtype: "")  # no kernels on fake tensors
    with FakeTensorMode():
        x = torch.empty(2, 4, 8, 8, device="cuda")
        assert select(x, layer).name == "pytorch"
        assert "set LIFTPOOL_TRITON=1" in str(explain_backend(layer, x))
        monkeypatch.setenv("LIFTPOOL_TRITON", "1")
        assert select(x, layer) is triton_lifting.BACKEND
        assert select(x.double(), layer).name == "pytorch"  # float64: the PyTorch steps
        assert select(torch.empty(1, 4, 4, 2 * triton_lifting.MAX_LENGTH + 2, device="cuda"), layer).name == "pytorch"
        assert select(x, LiftDownPool2d(4, groups=2)).name == "generic"
        with use_backend("generic"):
            assert select(x, layer).name == "generic"


def _auto_triton_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default path with the kernels on (``LIFTPOOL_TRITON=1``), reaching them on CPU tensors through the
    interpreter (the C++ kernels, first in line on CPU, off)."""
    monkeypatch.setenv("LIFTPOOL_TRITON", "1")
    monkeypatch.setenv("LIFTPOOL_NATIVE", "0")


def test_the_self_check_passes_and_the_kernels_then_serve(
    monkeypatch: pytest.MonkeyPatch, fresh_verdicts: None
) -> None:
    _auto_triton_on_cpu(monkeypatch)
    x, layer = torch.randn(1, 4, 8, 8), LiftDownPool2d(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert select(x, layer) is triton_lifting.BACKEND
    assert triton_self_check.verdicts() == {("cpu", "float32"): ""}


@pytest.mark.parametrize("fault", ["raises", "wrong"])
def test_a_failing_or_wrong_kernel_warns_once_and_the_pytorch_steps_serve(
    monkeypatch: pytest.MonkeyPatch, fresh_verdicts: None, fault: str
) -> None:
    _auto_triton_on_cpu(monkeypatch)
    forward = triton_lifting.lift_forward

    def faulty(*args: object) -> list[torch.Tensor]:
        if fault == "raises":
            raise RuntimeError("PTXAS error: ptxas not found")
        bands, c_u, c_p = forward(*args)
        return [bands * 1.01, c_u, c_p]

    monkeypatch.setattr(triton_lifting, "lift_forward", faulty)
    layer, generic = LiftDownPool2d(4, init="kaiming"), LiftDownPool2d(4, init="kaiming", fused=False)
    generic.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4, 8, 8)
    cause = "ptxas not found" if fault == "raises" else "relative error"
    with pytest.warns(UserWarning, match=f"Triton kernels failed on cpu float32 .*{cause}.*LIFTPOOL_TRITON"):
        assert select(x, layer).name == "pytorch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning only
        torch.testing.assert_close(layer(x), generic(x))
        assert cause in str(explain_backend(layer, x))


def test_a_kernel_failing_after_the_check_falls_back_within_the_step(
    monkeypatch: pytest.MonkeyPatch, fresh_verdicts: None
) -> None:
    """A variant the self-check did not compile (here: the inverse step's backward) fails in use: that call and the
    rest of the process take the PyTorch steps, with the same results."""
    _auto_triton_on_cpu(monkeypatch)
    monkeypatch.setattr(triton_self_check, "verdict", lambda device, dtype: "")
    layer, generic = LiftDownPool2d(4, init="kaiming", bands="all"), LiftDownPool2d(4, init="kaiming", bands="all")
    generic.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4, 8, 8, requires_grad=True)

    def compile_error(*args: object) -> None:
        raise RuntimeError("triton.compiler.errors.CompilationError: out of resources")

    monkeypatch.setattr(triton_lifting, "unlift_backward", compile_error)
    assert select(x, layer) is triton_lifting.BACKEND
    with pytest.warns(UserWarning, match="CompilationError: out of resources"):
        got = outputs(layer, LiftUpPool2d, x)
    assert triton_self_check.failed(x.device, x.dtype)
    with use_backend("pytorch"):
        expected = outputs(generic, LiftUpPool2d, x)
    for result, wanted in zip(got, expected, strict=True):
        torch.testing.assert_close(result, wanted, rtol=2e-4, atol=2e-5)


def test_forced_kernels_raise_instead_of_falling_back(monkeypatch: pytest.MonkeyPatch, fresh_verdicts: None) -> None:
    monkeypatch.setattr(triton_lifting, "lift_forward", lambda *args: 1 / 0)
    with use_backend("triton"), pytest.raises(ZeroDivisionError):
        LiftDownPool2d(4)(torch.randn(1, 4, 8, 8))
    assert triton_self_check.verdicts() == {}


def test_the_self_check_runs_outside_torch_compile_tracing(
    monkeypatch: pytest.MonkeyPatch, fresh_verdicts: None
) -> None:
    _auto_triton_on_cpu(monkeypatch)
    layer, x = LiftDownPool2d(4, init="kaiming"), torch.randn(1, 4, 8, 8)
    ops: set[str] = set()

    def backend(graph: torch.fx.GraphModule, example_inputs: list) -> object:
        ops.update(str(node.target) for node in graph.graph.nodes if node.op == "call_function")
        return graph.forward

    torch._dynamo.reset()
    try:
        got = torch.compile(layer, backend=backend)(x)
    finally:
        torch._dynamo.reset()
    assert triton_self_check.verdicts() == {("cpu", "float32"): ""}
    assert any("triton_lift_rows" in op for op in ops)
    with use_backend("pytorch"):
        torch.testing.assert_close(got, layer(x), rtol=2e-4, atol=2e-5)
