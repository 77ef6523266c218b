"""The Triton kernels against the float64 generic path on any device: on CUDA as compiled for the GPU
(``test_cuda.py``, ``-m gpu``), on CPU through Triton's interpreter (``test_triton_lifting.py``).

The cases reach every code path of the kernels: several channel blocks with a masked tail (C = 200: blocks of 64),
a row of one whole tile (``BLOCK_N = 1024``), one channel, channels-last, channel-sliced and floor-mode odd inputs
(whose input gradient has other strides than the input), both activations, both constraint-gradient settings."""

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
from liftpool_lightning.nn.backend_config import use_backend
from liftpool_lightning.nn.backends import select

TRITON_CASES = {
    "1d-zeros-k4-no-bias-all": (LiftDownPool1d, LiftUpPool1d, (4, 8, 37), {"padding_mode": "zeros", "kernel_size": 4,
                                "bias": False, "constraint_gradients": "all"}),
    "1d-one-tile-row": (LiftDownPool1d, LiftUpPool1d, (2, 6, 2046), {}),  # 1023 samples a half: BLOCK_N 1024
    "2d-symmetric-tanh": (LiftDownPool2d, LiftUpPool2d, (4, 16, 33, 30), {"padding_mode": "symmetric"}),
    "2d-channel-blocks-tail": (LiftDownPool2d, LiftUpPool2d, (2, 200, 12, 10), {}),  # 3 blocks of 64 and 8
    "2d-one-channel": (LiftDownPool2d, LiftUpPool2d, (3, 1, 12, 10), {"activation": "identity"}),
    "2d-channels-last": (LiftDownPool2d, LiftUpPool2d, (4, 24, 16, 18), {"layout": "channels_last"}),
    "2d-channel-slice": (LiftDownPool2d, LiftUpPool2d, (2, 12, 14, 12), {"layout": "channel_slice"}),
    "2d-floor-odd": (LiftDownPool2d, LiftUpPool2d, (3, 8, 15, 13), {"ceil_mode": False,
                     "constraint_gradients": "all"}),
    "3d-reflect-identity": (LiftDownPool3d, LiftUpPool3d, (2, 8, 9, 10, 12),
                            {"padding_mode": "reflect", "activation": "identity", "init": "max"}),
}  # fmt: skip
TOLERANCE = {torch.float32: 2e-4, torch.bfloat16: 5e-2, torch.float16: 1e-2}


def outputs(down: nn.Module, up_class: type, x: torch.Tensor) -> list[torch.Tensor]:
    """Pooled map, rebuilt input, both losses, and the gradients of x and of every parameter."""
    up = up_class(down)  # before the down-pool runs: it keeps its detail bands for a paired up-pool
    pooled = down(x)
    rebuilt = up(pooled * 0.5)
    loss = pooled.float().square().mean() + rebuilt.float().sin().mean() + lifting_loss(down, 0.3, 0.7)
    return [pooled, rebuilt, *down.last_losses, *torch.autograd.grad(loss, [x, *down.parameters()])]


def case_input(shape: tuple[int, ...], layout: str) -> torch.Tensor:
    """A float64 input of ``shape`` laid out as ``layout``: contiguous, channels-last, or a slice of the channels of
    a wider tensor (strided, not dense)."""
    if layout == "channel_slice":
        return torch.randn(shape[0], shape[1] + 8, *shape[2:], dtype=torch.float64)[:, 4 : 4 + shape[1]]
    x = torch.randn(shape, dtype=torch.float64)
    return x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x


def _laid_out(x: torch.Tensor, device: str, dtype: torch.dtype, layout: str) -> torch.Tensor:
    """``x`` on ``device`` in ``dtype``, keeping its layout (a slice stays a slice of a wider tensor)."""
    if layout == "channel_slice":
        wider = torch.zeros(x.shape[0], x.shape[1] + 8, *x.shape[2:], device=device, dtype=dtype)
        wider[:, 4 : 4 + x.shape[1]] = x.to(device, dtype)
        return wider[:, 4 : 4 + x.shape[1]]
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return x.to(device, dtype).contiguous(memory_format=memory_format)


def triton_case(
    name: str, device: str, dtype: torch.dtype = torch.float32, compiled: bool = False, shape: tuple | None = None
) -> None:
    """The Triton kernels on ``device`` in ``dtype`` (eager or torch.compile) against the float64 generic path on
    CPU: every output, loss and gradient within the dtype's tolerance (``shape`` in place of the case's own)."""
    down_class, up_class, case_shape, options = TRITON_CASES[name]
    shape = shape or case_shape
    options = {"bands": "all", "init": "kaiming", **options}
    layout = options.pop("layout", "contiguous")
    torch.manual_seed(0)
    reference = down_class(shape[1], fused=False, dtype=torch.float64, **options)
    layer = down_class(shape[1], device=device, **options)
    layer.load_state_dict(reference.state_dict())
    layer.to(dtype)
    x = case_input(shape, layout)
    x_device = _laid_out(x, device, dtype, layout).requires_grad_()
    with use_backend("triton"):
        assert select(x_device, layer) is triton_lifting.BACKEND, "the Triton kernels do not serve this input"
        run = torch.compile(outputs, dynamic=False) if compiled else outputs
        got = run(layer, up_class, x_device)
    expected = outputs(reference, up_class, x.detach().requires_grad_())
    assert got[0].dtype == dtype and got[2].dtype == torch.float32  # bands in the features' dtype, losses float32
    assert got[4].shape == x.shape
    for index, (result, wanted) in enumerate(zip(got, expected, strict=True)):
        wanted = wanted.detach()
        error = float((result.detach().double().cpu() - wanted).norm() / wanted.norm().clamp_min(1e-12))
        assert error <= TOLERANCE[dtype], f"{name} {dtype} output {index}: relative error {error:.1e}"


def nan_case(device: str, dtype: torch.dtype = torch.float32) -> None:
    """One NaN in the input: the Triton kernels give NaN exactly where the generic path does (``relu(NaN)`` is NaN,
    as ``torch.relu`` has it), forward and rebuilt."""
    torch.manual_seed(0)
    layer = LiftDownPool2d(4, bands="all", init="kaiming", device=device, dtype=dtype)
    x = torch.randn(1, 4, 8, 8, device=device, dtype=dtype)
    x[0, 1, 3, 3] = float("nan")
    up = LiftUpPool2d(layer)
    results = {}
    for name in ("triton", "generic"):
        with use_backend(name):
            assert select(x, layer).name == name
            pooled = layer(x)
            results[name] = (pooled.isnan(), up(pooled).isnan(), layer.last_losses.c_u.isnan())
    for got, expected in zip(results["triton"], results["generic"], strict=True):
        assert torch.equal(got, expected)
    assert results["generic"][0].sum() > 1  # the NaN spreads through P and U (16 of 64 outputs here)
