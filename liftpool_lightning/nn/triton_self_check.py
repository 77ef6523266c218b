"""The Triton kernels' first-use self-check, and the record of where they failed.

Before the kernels serve a (device, dtype) for the first time, a tiny forward and backward of one lifting step and
one inverse step (80 channels: two channel blocks with a masked tail; both activations; the constraint losses on)
runs through them and through the PyTorch steps. An exception, or a result off by more than the dtype's tolerance,
is a failure: one warning that names the cause, and the PyTorch steps serve that (device, dtype) for the rest of
the process. A kernel that fails later (a variant the check did not compile) is recorded the same way.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import Tensor

from liftpool_lightning.nn._step_common import OperatorWeights, lifting_padding

TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}
"""Relative error (norm of the difference over the norm) allowed against the PyTorch steps in float32."""

_verdicts: dict[tuple[str, str], str] = {}  # (device, dtype) -> "" (passed) or the cause of the failure


def _key(device: torch.device | str, dtype: torch.dtype | str) -> tuple[str, str]:
    return str(device), str(dtype).removeprefix("torch.")


def failed(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the kernels failed on ``device`` in ``dtype`` (their check or a later launch) in this process."""
    return bool(_verdicts.get(_key(device, dtype)))


def verdicts() -> dict[tuple[str, str], str]:
    """Every (device, dtype) checked or failed so far: "" where the kernels passed, else the cause."""
    return dict(_verdicts)


def record_failure(device: torch.device, dtype: torch.dtype, error: BaseException | str) -> None:
    """Note that the kernels failed on ``device`` in ``dtype`` and warn once; the PyTorch steps serve it from now."""
    key = _key(device, dtype)
    if _verdicts.get(key):
        return
    lines = str(error).strip().splitlines()
    cause = error if isinstance(error, str) else f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    _verdicts[key] = str(cause)
    warnings.warn(
        f"LiftPool's Triton kernels failed on {key[0]} {key[1]} ({cause}); the PyTorch steps (same results) run "
        "there for the rest of this process. Unset LIFTPOOL_TRITON (or set it to 0) to leave the kernels off.",
        stacklevel=2,
    )


@torch.compiler.assume_constant_result  # under torch.compile: run once while tracing, its answer a constant
def verdict(device: str, dtype: str) -> str:
    """ "" where the kernels passed their self-check on ``device`` in ``dtype`` (run on first ask), else the cause."""
    key = _key(device, dtype)
    if key not in _verdicts:
        _verdicts[key] = ""
        try:
            failure = _compare(torch.device(device), getattr(torch, dtype))
        except Exception as error:  # a launch or compile error: what this check is for
            record_failure(torch.device(device), getattr(torch, dtype), error)
        else:
            if failure:
                record_failure(torch.device(device), getattr(torch, dtype), failure)
    return _verdicts[key]


def _weights(channels: int, generator: torch.Generator, device: torch.device) -> OperatorWeights:
    def draw(*shape: int) -> Tensor:
        return (torch.rand(*shape, generator=generator) - 0.5).to(device).requires_grad_()

    return OperatorWeights(draw(channels, 1, 5), draw(channels), draw(channels, 1), draw(channels))


def _outputs(backend, x: Tensor, predict: OperatorWeights, update: OperatorWeights, activation: str) -> list[Tensor]:
    """Bands, losses, rebuilt rows and every gradient of one step and one inverse step through ``backend``."""
    padding = lifting_padding(5, "symmetric")
    bands, c_u, c_p = backend.lift_rows(x, padding=padding, predict=predict, update=update, with_losses=True,
                                        images=True, activation=activation)  # fmt: skip
    rebuilt = backend.unlift_rows(bands * 0.5, padding=padding, predict=predict, update=update, activation=activation)
    loss = bands.float().square().mean() + rebuilt.float().sin().mean() + 0.3 * c_u + 0.7 * c_p
    parameters = [t for t in (*predict, *update) if t is not None]  # all of them: _weights draws every bias
    return [bands, c_u, c_p, rebuilt, *torch.autograd.grad(loss, [x, *parameters])]


def _compare(device: torch.device, dtype: torch.dtype) -> str:
    """ "" where the Triton kernels match the PyTorch steps on a tiny input, else what differs."""
    from liftpool_lightning.nn import fused_lifting, triton_lifting  # the backends import this module

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 80, 4, 6, generator=generator)
    with torch.enable_grad(), torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
        for activation in ("tanh", "identity"):
            predict, update = _weights(80, generator, device), _weights(80, generator, device)
            got = _outputs(triton_lifting.BACKEND, x.to(device, dtype).requires_grad_(), predict, update, activation)
            expected = _outputs(fused_lifting.BACKEND, x.to(device).requires_grad_(), predict, update, activation)
            for index, (result, wanted) in enumerate(zip(got, expected, strict=True)):
                result, wanted = result.detach().double(), wanted.detach().double()
                error = float((result - wanted).norm() / wanted.norm().clamp_min(1e-12))
                if not error <= TOLERANCE[dtype]:  # NaN fails too
                    return f"output {index} with {activation}: relative error {error:.1e} > {TOLERANCE[dtype]:.0e}"
    return ""
