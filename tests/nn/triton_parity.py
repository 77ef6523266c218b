"""The Triton kernels against the float64 generic path on any device: on CUDA as compiled for the GPU
(``test_cuda.py``, ``-m gpu``), on CPU through Triton's interpreter (``test_triton_lifting.py``)."""

from __future__ import annotations

import torch
from torch import nn

from liftpool_lightning import lifting_loss
from liftpool_lightning.nn import (
    LiftDownPool1d,
    LiftDownPool2d,
    LiftDownPool3d,
    LiftUpPool1d,
    LiftUpPool2d,
    LiftUpPool3d,
    triton_lifting,
)
from liftpool_lightning.nn.step_implementations import steps_for

TRITON_CASES = {
    "1d-zeros-k4-no-bias-all": (LiftDownPool1d, LiftUpPool1d, (4, 8, 37), {"padding_mode": "zeros", "kernel_size": 4,
                                "bias": False, "constraint_gradients": "all"}),
    "2d-symmetric-tanh": (LiftDownPool2d, LiftUpPool2d, (4, 16, 33, 30), {"padding_mode": "symmetric"}),
    "3d-reflect-identity": (LiftDownPool3d, LiftUpPool3d, (2, 8, 9, 10, 12),
                            {"padding_mode": "reflect", "activation": "identity", "init": "max"}),
}  # fmt: skip


def outputs(down: nn.Module, up_class: type, x: torch.Tensor) -> list[torch.Tensor]:
    """Pooled map, rebuilt input, both losses, and the gradients of x and of every parameter."""
    up = up_class(down)  # before the down-pool runs: it keeps its detail bands for a paired up-pool
    pooled = down(x)
    rebuilt = up(pooled * 0.5)
    loss = pooled.float().square().mean() + rebuilt.float().sin().mean() + lifting_loss(down, 0.3, 0.7)
    return [pooled, rebuilt, *down.last_losses, *torch.autograd.grad(loss, [x, *down.parameters()])]


def triton_case(name: str, device: str, dtype: torch.dtype = torch.float32, compiled: bool = False) -> None:
    """The Triton kernels on ``device`` in ``dtype`` (eager or torch.compile) against the float64 generic path on
    CPU: every output, loss and gradient within the dtype's tolerance."""
    down_class, up_class, shape, options = TRITON_CASES[name]
    options = {"bands": "all", "init": "kaiming", **options}
    torch.manual_seed(0)
    reference = down_class(shape[1], fused=False, dtype=torch.float64, **options)
    layer = down_class(shape[1], device=device, **options)
    layer.load_state_dict(reference.state_dict())
    layer.to(dtype)
    x = torch.randn(shape, dtype=torch.float64)
    x_device = x.to(device, dtype).requires_grad_()
    assert steps_for(x_device) is triton_lifting, "the Triton kernels do not serve this input"
    run = torch.compile(outputs, dynamic=False) if compiled else outputs
    got = run(layer, up_class, x_device)
    expected = outputs(reference, up_class, x.requires_grad_())
    tolerance = {torch.float32: 2e-4, torch.bfloat16: 5e-2}[dtype]
    assert got[0].dtype == dtype and got[2].dtype == torch.float32  # bands in the features' dtype, losses float32
    for index, (result, wanted) in enumerate(zip(got, expected, strict=True)):
        error = float((result.detach().double().cpu() - wanted).norm() / wanted.norm().clamp_min(1e-12))
        assert error <= tolerance, f"{name} {dtype} output {index}: relative error {error:.1e} > {tolerance:.0e}"
