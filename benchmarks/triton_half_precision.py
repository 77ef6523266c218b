"""Where the Triton steps lose precision in float16: a 3D LiftDownPool then LiftUpPool (the case
``tests/nn/test_precision.py`` expects to fail for the Triton steps), on CPU through Triton's interpreter.

Table 1: relative error against float64 of the output and of every gradient, for PyTorch's autograd, the PyTorch
steps and the Triton steps in float16, and the Triton steps in float32; the input and the parameters are rounded to
float16 first, so every run sees the same values. Table 2: each backward kernel call of the Triton float16 run,
captured and rerun on the same inputs in float32: how far its float16 results are from that (a faithful kernel
differs by about its outputs' rounding).

    python benchmarks/triton_half_precision.py [--no-losses]      # about 3 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
from unittest import mock

os.environ.setdefault("TRITON_INTERPRET", "1")  # before Triton is imported
os.environ.setdefault("LIFTPOOL_NATIVE", "0")  # the CUDA branch's steps on CPU (the C++ kernels off)

import torch
import torch.utils._pytree as pytree
from torch import Tensor

from liftpool_lightning.nn import LiftDownPool3d, LiftUpPool3d, lifting_loss, triton_lifting
from liftpool_lightning.nn.backend_config import use_backend

SHAPE = (2, 4, 6, 6, 8)
BACKWARDS = ("unlift_backward", "lift_backward")


def _reference() -> tuple[LiftDownPool3d, Tensor]:
    torch.manual_seed(0)
    layer = LiftDownPool3d(4, bands="all", init="kaiming", fused=False, dtype=torch.float64)
    with torch.no_grad():  # clearly non-trivial P/U (as the precision test), values float16 holds
        for parameter in layer.parameters():
            parameter.copy_((parameter * 3.0).half())
    return layer, (torch.randn(SHAPE, dtype=torch.float64) * 2.0).half().double()


def _gradients(reference, x, dtype, fused: bool, triton: bool, losses: bool) -> dict[str, Tensor]:
    down = copy.deepcopy(reference).to(dtype)
    down.fused = fused
    x = x.to(dtype).detach().clone().requires_grad_()
    with use_backend("triton" if triton else "pytorch"):  # the generic path where not fused
        out = LiftUpPool3d(down)(down(x) * 0.5)
        loss = out.float().square().mean() + (lifting_loss(down) if losses else 0.0)
        loss.backward()
    return {"output": out.detach(), "input": x.grad, **{n: p.grad for n, p in down.named_parameters()}}


def _recording(calls: list) -> contextlib.ExitStack:
    """Within the block each backward kernel call is also kept in ``calls``: (name, args, kwargs, results)."""
    stack = contextlib.ExitStack()
    for name in BACKWARDS:
        original = getattr(triton_lifting, name)

        def call(*a, _name=name, _original=original, **k):
            result = _original(*a, **k)
            calls.append((_name, a, k, result))
            return result

        stack.enter_context(mock.patch.object(triton_lifting, name, call))
    return stack


def _float32(value):
    """float16 tensors as float32, anything else as it is."""
    return value.float() if isinstance(value, Tensor) and value.dtype == torch.float16 else value


def _error(result: Tensor, wanted: Tensor) -> float:
    return float((result.double() - wanted.double()).norm() / wanted.double().norm().clamp_min(1e-30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-losses", action="store_true", help="leave the lifting losses out of the loss")
    args = parser.parse_args()
    with torch.backends.mkldnn.flags(enabled=False):  # as on the CUDA stand-in
        reference, x = _reference()
        truth = _gradients(reference, x, torch.float64, False, False, not args.no_losses)
        calls: list[tuple[str, tuple, dict, tuple]] = []
        runs = {"autograd f16": (torch.float16, False, False), "PyTorch steps f16": (torch.float16, True, False),
                "Triton f16": (torch.float16, True, True), "Triton f32": (torch.float32, True, True)}  # fmt: skip
        results = {}
        for label, (dtype, fused, triton) in runs.items():
            with _recording(calls) if label == "Triton f16" else contextlib.nullcontext():
                results[label] = _gradients(reference, x, dtype, fused, triton, not args.no_losses)

        print("relative error against float64 (input and parameters rounded to float16 first)")
        print(f"| tensor | {' | '.join(runs)} |\n|---|{'---|' * len(runs)}")
        for key in truth:
            print(f"| {key} | " + " | ".join(f"{_error(r[key], truth[key]):.1e}" for r in results.values()) + " |")

        print("\neach backward kernel call of the Triton float16 run against itself in float32, same inputs")
        print("| call | gradient of the input or bands, then P's and U's weight, bias, pointwise weight, bias |")
        print("|---|---|")
        with use_backend("triton"):
            for index, (name, a, k, half) in enumerate(calls):
                single = getattr(triton_lifting, name)(*pytree.tree_map(_float32, a), **pytree.tree_map(_float32, k))
                pairs = zip(half, single, strict=True)  # empty tensors stand for a missing bias
                errors = [f"{_error(h, s):.1e}" for h, s in pairs if h.numel()]
                print(f"| {index} {name} | {' '.join(errors)} |")


if __name__ == "__main__":
    main()
