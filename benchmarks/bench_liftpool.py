"""Speed and memory of LiftPool against its baselines, side by side in one run (a script, not a test).

    python benchmarks/bench_liftpool.py                         # CPU, every workload
    python benchmarks/bench_liftpool.py --device cuda --bf16 --channels-last --json results.json

Workloads (full training steps: forward, task loss + lifting losses, backward, SGD step):
  vgg13     VGG13-BN CIFAR, batch 64, 32x32: MaxPool vs LiftDownPool (K=5, all bands, constraints on)
  segnet    SegNet-VGG13-BN, batch 4, 128x128: MaxPool/MaxUnpool vs LiftDownPool/LiftUpPool
  resnet18  ResNet18, batch 32, 224x224: MaxPool vs LiftDownPool
  layers    one layer, forward + backward, over VGG13 shapes: MaxPool2d vs LiftDownPool2d vs the plain reference
Each (workload, variant) runs in its own subprocess, one after the other, so the peak memory (max RSS on CPU, max
allocated on CUDA) is its own; times are medians over --repeats after --warmup. Report ratios, not absolute times:
the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liftpool_lightning import lifting_loss
from liftpool_lightning.models import create_network

WORKLOADS = {
    "vgg13": ("vgg13_bn_cifar", 100, 64, 32, {"max": {}, "lift": {"pool": "lift"}}),
    "segnet": ("segnet_vgg13_bn", 21, 4, 128, {"maxunpool": {}, "lift": {"pool": "lift"}}),
    "resnet18": ("resnet18", 1000, 32, 224, {"max": {}, "lift": {"pool": "lift"}}),
}
LAYER_SHAPES = [(64, 64, 32, 32), (64, 128, 16, 16), (64, 256, 8, 8), (64, 512, 4, 4)]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time(step, device: str, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _peak_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_model(workload: str, variant: str, options: argparse.Namespace) -> dict:
    name, classes, batch, size, variants = WORKLOADS[workload]
    model = create_network(name, classes, input_size=min(size, 64), **variants[variant]).to(options.device)
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    step_model = torch.compile(model) if options.compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=options.device).contiguous(memory_format=memory_format)
    if workload == "segnet":
        y = torch.randint(0, classes, (batch, size, size), device=options.device)
    else:
        y = torch.randint(0, classes, (batch,), device=options.device)
    dtype = torch.bfloat16 if options.bf16 else None

    def step() -> None:
        with torch.autocast(options.device, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(step_model(x), y) + lifting_loss(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return {"ms": _time(step, options.device, options.warmup, options.repeats), "peak_mb": _peak_mb(options.device)}


def run_layers(options: argparse.Namespace) -> list[dict]:
    from benchmarks.reference_liftpool import reference_forward
    from liftpool_lightning import LiftDownPool2d

    rows = []
    for shape in LAYER_SHAPES:
        x = torch.randn(*shape, device=options.device, requires_grad=True)
        layer = LiftDownPool2d(shape[1], device=options.device, padding_mode="zeros")

        def reference_step(layer: LiftDownPool2d = layer, x: torch.Tensor = x) -> None:
            bands, c_u, c_p = reference_forward(layer, x)
            (sum(b.sum() for b in bands.values()) + c_u + c_p).backward()

        def lift_step(layer: LiftDownPool2d = layer, x: torch.Tensor = x) -> None:
            (layer(x).sum() + lifting_loss(layer)).backward()

        def max_step(x: torch.Tensor = x) -> None:
            F.max_pool2d(x, 2).sum().backward()

        variants = {"max": max_step, "lift": lift_step, "reference": reference_step}
        times = {k: _time(v, options.device, options.warmup, options.repeats) for k, v in variants.items()}
        rows.append({"shape": "x".join(map(str, shape)), **{f"{k}_ms": t for k, t in times.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", nargs="+", default=[*WORKLOADS, "layers"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--single", nargs=2, metavar=("WORKLOAD", "VARIANT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    torch.manual_seed(0)
    if options.single:
        print(json.dumps(run_model(*options.single, options)))
        return
    passthrough = [a for a in sys.argv[1:] if a not in options.workloads and a != "--workloads"]
    settings = {**vars(options), "json": str(options.json)}
    results: dict[str, object] = {"device": options.device, "torch": torch.__version__, "options": settings}
    for workload in options.workloads:
        if workload == "layers":
            results["layers"] = rows = run_layers(options)
            header = f"{'max':>8}{'lift':>9}{'reference':>11}{'lift/max':>10}{'ref/lift':>10}"
            print(f"{'layer fwd+bwd, ms':<18}{'shape':<16}{header}")
            for row in rows:
                ratios = f"{row['lift_ms'] / row['max_ms']:10.2f}{row['reference_ms'] / row['lift_ms']:10.2f}"
                timing = f"{row['max_ms']:8.2f}{row['lift_ms']:9.2f}{row['reference_ms']:11.2f}"
                print(f"{'':<18}{row['shape']:<16}{timing}{ratios}")
            continue
        measured = {}
        for variant in WORKLOADS[workload][4]:
            command = [sys.executable, __file__, "--single", workload, variant, *passthrough]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()
            measured[variant] = json.loads(output[-1])
        baseline, lift = measured[next(iter(measured))], measured["lift"]
        time_ratio, memory_ratio = lift["ms"] / baseline["ms"], lift["peak_mb"] / baseline["peak_mb"]
        results[workload] = {**measured, "time_ratio": time_ratio, "memory_ratio": memory_ratio}
        cells = "  ".join(f"{k}: {v['ms']:8.1f} ms {v['peak_mb']:6.0f} MB" for k, v in measured.items())
        print(f"{workload:<10}{cells}  lift/baseline: time {time_ratio:.2f}x, memory {memory_ratio:.2f}x")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
