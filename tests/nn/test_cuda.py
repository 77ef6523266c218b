"""CUDA paths (run with ``pytest -m gpu`` on a machine with a GPU): parity with CPU, bf16 autocast, round trip, and
the Triton kernels as compiled for the GPU against the float64 generic path (``tests/nn/triton_parity.py``, whose
cases also run on CPU through Triton's interpreter: what can fail on a GPU alone is the compiled kernels)."""

import pytest
import torch

from liftpool_lightning import LiftDownPool2d, LiftUpPool2d, lifting_loss
from liftpool_lightning.nn import triton_lifting
from tests.nn.triton_parity import TRITON_CASES, triton_case

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


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


@pytest.mark.skipif(not triton_lifting.available(), reason="needs Triton")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize(
    ("name", "compiled"), [*((name, False) for name in TRITON_CASES), ("2d-symmetric-tanh", True)]
)  # torch.compile (inductor) once: each compilation takes seconds
def test_triton_kernels_on_cuda_match_the_generic_path(name: str, compiled: bool, dtype: torch.dtype) -> None:
    triton_case(name, "cuda", dtype, compiled)
