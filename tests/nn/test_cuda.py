"""CUDA paths (run with ``pytest -m gpu`` on a machine with a GPU; ``benchmarks/gpu_check.sh`` runs them): parity
with CPU, bf16 autocast, round trip, and the Triton kernels as compiled for the GPU against the float64 generic path
(``tests/nn/triton_parity.py``, whose cases also run on CPU through Triton's interpreter: what can fail on a GPU
alone is the compiled kernels), their self-check, device guard, int64 offsets and host synchronisation."""

import pytest
import torch

from liftpool_lightning import LiftDownPool2d, LiftDownPool3d, LiftUpPool2d, lifting_loss
from liftpool_lightning.nn import triton_lifting, triton_self_check
from liftpool_lightning.nn.backend_config import use_backend
from liftpool_lightning.nn.backends import select
from tests.nn.triton_parity import TRITON_CASES, nan_case, triton_case

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
needs_triton = pytest.mark.skipif(not triton_lifting.available(), reason="needs Triton")


def test_cuda_matches_cpu_and_round_trips() -> None:
    cpu = LiftDownPool2d(16, kernel_size=5, dtype=torch.float64, init="kaiming")
    gpu = LiftDownPool2d(16, kernel_size=5, dtype=torch.float64, device="cuda", init="kaiming")
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(4, 16, 33, 30, dtype=torch.float64)
    torch.testing.assert_close(gpu(x.cuda()).cpu(), cpu(x))
    torch.testing.assert_close(lifting_loss(gpu).cpu(), lifting_loss(cpu))
    bands = gpu.decompose(x.cuda())
    torch.testing.assert_close(LiftUpPool2d(gpu)(bands.ll, bands).cpu(), x, rtol=0, atol=1e-10)


def test_cuda_bf16_autocast_channels_last_and_backward() -> None:
    pool = LiftDownPool2d(32, device="cuda", init="kaiming")
    x = torch.randn(8, 32, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = pool(x)
        loss = out.float().square().mean() + lifting_loss(pool)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in pool.parameters())
    torch.testing.assert_close(out.float(), pool(x.detach()), rtol=0.05, atol=0.05)


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize(
    ("name", "compiled"), [*((name, False) for name in TRITON_CASES), ("2d-symmetric-tanh", True)]
)  # torch.compile (inductor) once: each compilation takes seconds
def test_triton_kernels_on_cuda_match_the_generic_path(name: str, compiled: bool, dtype: torch.dtype) -> None:
    triton_case(name, "cuda", dtype, compiled)


@needs_triton
def test_triton_kernels_on_cuda_keep_nan() -> None:
    nan_case("cuda")


@needs_triton
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_the_self_check_passes_on_this_gpu(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTPOOL_TRITON", "1")
    assert triton_self_check.verdict("cuda:0", dtype) == ""
    assert select(torch.empty(1, 4, 8, 8, device="cuda", dtype=getattr(torch, dtype)), LiftDownPool2d(4)).name == (
        "triton"
    )


@needs_triton
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_triton_kernels_launch_on_the_tensors_device_not_the_current_one() -> None:
    torch.manual_seed(0)
    layer = LiftDownPool2d(8, bands="all", init="kaiming", device="cuda:1")
    x = torch.randn(2, 8, 16, 16, device="cuda:1", requires_grad=True)
    torch.cuda.set_device(0)
    with use_backend("triton"):
        got = layer(x)
        (grad,) = torch.autograd.grad(got.square().sum(), x)
    with use_backend("pytorch"):
        expected = layer(x)
        (expected_grad,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(got, expected, rtol=2e-4, atol=2e-5)
    torch.testing.assert_close(grad, expected_grad, rtol=2e-4, atol=2e-5)


@needs_triton
def test_triton_offsets_past_two_to_the_31_elements() -> None:
    """A step whose input, bands and scratch hold more than 2**31 elements (int32 offsets would wrap): the far end of
    the tensors against the PyTorch steps on the same slice of channels."""
    torch.manual_seed(0)
    channels = 68  # 2 x 68 x 4096 x 4096 > 2**31; the last channel block is a masked tail
    layer = LiftDownPool2d(channels, bands="all", init="kaiming", device="cuda", dtype=torch.bfloat16)
    x = torch.randn(2, channels, 4096, 4096, device="cuda", dtype=torch.bfloat16)
    assert x.numel() > 2**31
    with use_backend("triton"), torch.no_grad():
        pooled = layer(x)[1, -4:, -64:, -64:].float()
    tail = LiftDownPool2d(4, bands="all", init="kaiming", device="cuda", dtype=torch.bfloat16)
    tail.load_state_dict({k: v[-4:] for k, v in layer.state_dict().items()})
    with use_backend("pytorch"), torch.no_grad():
        expected = tail(x[1:, -4:].float().bfloat16())[0, :, -64:, -64:].float()
    torch.testing.assert_close(pooled, expected, rtol=2e-2, atol=2e-2)


@needs_triton
def test_a_training_step_makes_no_host_synchronisation() -> None:
    layer = LiftDownPool3d(16, bands="all", init="kaiming", device="cuda")
    x = torch.randn(2, 16, 8, 16, 16, device="cuda", requires_grad=True)
    with use_backend("triton"):
        for step in range(2):  # the first builds the padding tables (one copy to the GPU each)
            sync = "error" if step else "default"
            torch.cuda.set_sync_debug_mode(sync)
            try:
                (layer(x).square().mean() + lifting_loss(layer)).backward()
            finally:
                torch.cuda.set_sync_debug_mode("default")
