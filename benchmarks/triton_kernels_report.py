"""The Triton kernels on this machine: the first-use self-check's verdict per dtype, then the VGG13 and SegNet layer
shapes through the kernels (forward and backward, bf16 autocast, channels-last), then the registers and spills of
every kernel variant that compiled (a script, run by ``benchmarks/gpu_check.sh``; not a test).

    python benchmarks/triton_kernels_report.py [--json report.json]              # on a GPU
    TRITON_INTERPRET=1 python benchmarks/triton_kernels_report.py --device cpu   # rehearsal: the interpreter
                                                                                  # compiles nothing, no registers

Spills (registers moved to local memory) cost speed; a variant with many of them is the first place to tune the
block sizes. ``TRITON_CACHE_DIR`` decides where Triton keeps what it compiles (``gpu_check.sh`` sets it under its
output folder, so a cold compile is what is timed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liftpool_lightning import LiftDownPool2d, LiftUpPool2d, lifting_loss
from liftpool_lightning.nn import triton_kernels, triton_self_check
from liftpool_lightning.nn.backend_config import use_backend

KERNELS = ("_lift_forward_kernel", "_lift_backward_kernel", "_unlift_forward_kernel", "_unlift_backward_kernel")
CONSTANTS = ("K", "BLOCK_N", "BLOCK_C", "TANH", "WITH_LOSSES", "SPLIT")
GPU_SHAPES = [(64, 64, 32, 32), (64, 128, 16, 16), (64, 256, 8, 8), (64, 512, 4, 4), (4, 64, 128, 128)]
"""VGG13-BN CIFAR's four pools at batch 64, and SegNet's first pool at 128x128, batch 4."""
CPU_SHAPES = [(1, 70, 4, 6)]  # the interpreter: one tiny shape with a channel tail


def self_check(device: str) -> dict[str, dict]:
    """The self-check's verdict ("" = passed) and its seconds (a cold compile included) per dtype."""
    verdicts = {}
    for dtype in ("float32", "bfloat16", "float16"):
        start = time.perf_counter()
        verdict = triton_self_check.verdict(device, dtype)
        verdicts[dtype] = {"verdict": verdict or "passed", "seconds": round(time.perf_counter() - start, 2)}
    return verdicts


def run_shapes(device: str, shapes: list[tuple[int, ...]]) -> list[dict]:
    """Forward and backward of a LiftDownPool2d and its LiftUpPool2d through the kernels on each shape."""
    rows = []
    autocast = device.startswith("cuda")
    for shape in shapes:
        torch.manual_seed(0)
        down = LiftDownPool2d(shape[1], device=device)
        x = torch.randn(shape, device=device).contiguous(memory_format=torch.channels_last).requires_grad_()
        start = time.perf_counter()
        with use_backend("triton"), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            out = LiftUpPool2d(down)(down(x))
            (out.float().square().mean() + lifting_loss(down)).backward()
        if autocast:
            torch.cuda.synchronize(device)
        finite = bool(torch.isfinite(x.grad).all()) and all(
            bool(torch.isfinite(p.grad).all()) for p in down.parameters()
        )
        rows.append({"shape": "x".join(map(str, shape)), "seconds": round(time.perf_counter() - start, 2),
                     "finite_gradients": finite})  # fmt: skip
    return rows


def compiled_variants() -> list[dict]:
    """Every compiled variant of the four kernels in this process: its constants, registers, spills, warps."""
    variants = []
    for name in KERNELS:
        kernel = getattr(triton_kernels, name)
        for caches in getattr(kernel, "device_caches", {}).values():  # absent under the interpreter
            for compiled in caches[0].values():
                compiled._init_handles()  # loads the binary: registers and spills are known from here
                source = compiled.src
                constants = {source.fn.arg_names[key[0]]: value for key, value in source.constants.items()}
                variants.append({
                    "kernel": name.strip("_").removesuffix("_kernel"),
                    **{c: constants[c] for c in CONSTANTS if c in constants},
                    "registers": compiled.n_regs, "spills": compiled.n_spills,
                    "warps": compiled.metadata.num_warps, "shared_bytes": compiled.metadata.shared,
                })  # fmt: skip
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    options = parser.parse_args()
    if triton_kernels.triton is None:
        raise SystemExit("triton_kernels_report: Triton is not installed")
    device = options.device
    report = {"device": torch.cuda.get_device_name(device) if device.startswith("cuda") else device,
              "torch": torch.__version__, "triton": triton_kernels.triton.__version__}  # fmt: skip
    report["self_check"] = self_check(device)
    print("self-check (first use, against the PyTorch steps):")
    for dtype, row in report["self_check"].items():
        print(f"  {dtype}: {row['verdict']} ({row['seconds']} s)")
    report["shapes"] = run_shapes(device, GPU_SHAPES if device.startswith("cuda") else CPU_SHAPES)
    print("LiftDownPool2d + LiftUpPool2d forward and backward through the kernels (bf16 autocast on CUDA):")
    for row in report["shapes"]:
        print(f"  {row['shape']}: {row['seconds']} s, finite gradients: {row['finite_gradients']}")
    report["variants"] = compiled_variants()
    if report["variants"]:
        print("| kernel | " + " | ".join(CONSTANTS) + " | registers | spills | warps | shared bytes |")
        print("|---|" + "---|" * (len(CONSTANTS) + 4))
        for row in report["variants"]:
            cells = [row.get(c, "") for c in (*CONSTANTS, "registers", "spills", "warps", "shared_bytes")]
            print(f"| {row['kernel']} | " + " | ".join(map(str, cells)) + " |")
        print(f"most spills: {max(row['spills'] for row in report['variants'])}")
    else:
        print("no compiled kernels (Triton's interpreter compiles nothing): no registers or spills to report")
    if options.json:
        options.json.write_text(json.dumps(report, indent=2))
    failed = [dtype for dtype, row in report["self_check"].items() if row["verdict"] != "passed"]
    if not device.startswith("cuda"):
        # Triton's interpreter rounds float32 to bfloat16 toward zero (a GPU rounds to nearest): its bfloat16 verdict
        # says nothing of a GPU's, so a rehearsal fails on float32, float16 and the gradients only
        failed = [dtype for dtype in failed if dtype != "bfloat16"]
    if failed or not all(row["finite_gradients"] for row in report["shapes"]):
        raise SystemExit(f"triton_kernels_report: self-check failed for {failed or 'none'}, or gradients not finite")


if __name__ == "__main__":
    main()
