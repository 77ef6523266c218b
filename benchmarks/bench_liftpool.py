"""Speed and memory of LiftPool against its baselines, side by side in one run (a script, not a test).

    python benchmarks/bench_liftpool.py                         # CPU, every workload
    python benchmarks/bench_liftpool.py --device cuda --bf16 --channels-last --json results.json
    python benchmarks/bench_liftpool.py --workloads vgg13 --compile   # compiled, and compiled vs eager

Workloads (full training steps: forward, task loss + lifting losses, backward, SGD step):
  vgg13     VGG13-BN CIFAR, batch 64, 32x32: MaxPool vs LiftDownPool (the defaults: K=5, constraints on)
  segnet    SegNet-VGG13-BN, batch 4, 128x128: MaxPool/MaxUnpool vs LiftDownPool/LiftUpPool
  resnet18  ResNet18, batch 32, 224x224: MaxPool vs LiftDownPool
  layers    one layer, forward + backward, over VGG13 shapes: MaxPool2d vs LiftDownPool2d (fused, the default),
            the generic autograd path (fused=False) and the plain reference written from the equations; the fused
            layer's bands, losses and gradients are checked against the reference on the way.
LiftPool runs the backend the layers choose by default (the C++ kernels on CPU, the PyTorch steps on CUDA; see
liftpool_lightning/nn/backends.py); --paper-gradients adds it with constraint_gradients="all" (the paper's gradients,
one backward stream instead of the default's two); --pytorch-steps adds the same model on the PyTorch steps
(use_backend("pytorch"), the CUDA default, on CPU), --triton on the Triton kernels (use_backend("triton",
"pytorch"): CUDA, or CPU under TRITON_INTERPRET=1; a kernel failure ends the run rather than timing the fallback);
--blur adds the anti-aliasing reference (BlurPool; in SegNet MaxPool with MaxUnpool followed by a blur);
the layers table always has the default and the PyTorch steps.
Each variant runs in its own process (one model per process, as in training), --rounds times, the variants taking
turns (max, lift, max, lift, ...), so a busy or throttled machine slows all of them alike; a process reports the
median of --repeats steps after --warmup, and the table the median over rounds. Memory per variant: the peak of the
process (max RSS on CPU, max allocated on CUDA; the largest over rounds) and the tensors kept for backward by one
forward pass (exact, the same on any machine). Report the ratios, not the absolute times: the machines are shared and
noisy. With --compile the models run under torch.compile and the eager LiftPool model joins, for compiled/eager.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liftpool_lightning import lifting_loss
from liftpool_lightning.models import create_network
from liftpool_lightning.nn.backend_config import use_backend

WORKLOADS = {
    "vgg13": ("vgg13_bn_cifar", 100, 64, 32, {"max": {}, "lift": {"pool": "lift"}}),
    "segnet": ("segnet_vgg13_bn", 21, 4, 128, {"maxunpool": {}, "lift": {"pool": "lift"}}),
    "resnet18": ("resnet18", 1000, 32, 224, {"max": {}, "lift": {"pool": "lift"}}),
}
BLUR = "blur"
BLUR_POOLING = {  # the paper's anti-aliasing reference: BlurPool, or MaxUnpool followed by a blur in a decoder
    "vgg13": {"pool": "blur"},
    "segnet": {"pool": "max", "up_pool": "maxunpool+blur"},
    "resnet18": {"pool": "blur"},
}
LAYER_SHAPES = [(64, 64, 32, 32), (64, 128, 16, 16), (64, 256, 8, 8), (64, 512, 4, 4)]
EAGER = "lift (eager)"
PYTORCH_STEPS = "lift (pytorch steps)"
PAPER_GRADIENTS = "lift (paper gradients)"
TRITON = "lift (triton)"
FORCED_BACKENDS = {PYTORCH_STEPS: ("pytorch",), TRITON: ("triton", "pytorch")}
"""The variants that run LiftPool on a given backend rather than the default one."""


def on_backend(variant: str) -> contextlib.AbstractContextManager:
    """The block in which ``variant``'s LiftPool layers run (its forced backend, or the default choice)."""
    names = FORCED_BACKENDS.get(variant)
    return use_backend(*names) if names else contextlib.nullcontext()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_alternating(steps: dict[str, Callable[[], None]], device: str, warmup: int, repeats: int) -> dict[str, float]:
    """Median milliseconds per step of each callable, timing them in turn round after round."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def _peak_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _network(workload: str, variant: str, device: str) -> torch.nn.Module:
    name, classes, _, size, variants = WORKLOADS[workload]
    if variant == BLUR:
        pooling = BLUR_POOLING[workload]
    else:
        pooling = variants["lift" if variant in (EAGER, PAPER_GRADIENTS, *FORCED_BACKENDS) else variant]
    if variant == PAPER_GRADIENTS:
        pooling = {**pooling, "pool_options": {"constraint_gradients": "all"}}
    return create_network(name, classes, input_size=min(size, 64), **pooling).to(device)


def training_step(workload: str, variant: str, options: argparse.Namespace) -> Callable[[], None]:
    """A closure running one full training step of ``workload`` with pooling ``variant``."""
    _, classes, batch, size, _ = WORKLOADS[workload]
    compiled = options.compile and variant != EAGER
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    model = _network(workload, variant, options.device).to(memory_format=memory_format)
    step_model = torch.compile(model) if compiled else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=options.device).contiguous(memory_format=memory_format)
    target_shape = (batch, size, size) if workload == "segnet" else (batch,)
    y = torch.randint(0, classes, target_shape, device=options.device)
    dtype = torch.bfloat16 if options.bf16 else None

    def step() -> None:
        with on_backend(variant), torch.autocast(options.device, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(step_model(x), y) + lifting_loss(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _variants(workload: str, options: argparse.Namespace) -> list[str]:
    variants = list(WORKLOADS[workload][4])
    extra = [EAGER] * options.compile + [PYTORCH_STEPS] * options.pytorch_steps + [TRITON] * options.triton
    return variants + extra + [PAPER_GRADIENTS] * options.paper_gradients + [BLUR] * options.blur


def saved_activation_mb(workload: str, variant: str, options: argparse.Namespace) -> float:
    """Megabytes of the distinct tensors autograd keeps for backward during one training forward pass."""
    _, _, batch, size, _ = WORKLOADS[workload]
    model = _network(workload, variant, options.device)
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    x = torch.randn(batch, 3, size, size, device=options.device)
    with on_backend(variant), torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    return sum(storages.values()) / 2**20


def measure(workload: str, variant: str, options: argparse.Namespace) -> dict[str, float]:
    """Median step time and peak memory of one variant, in this process."""
    torch.manual_seed(0)
    step = training_step(workload, variant, options)
    ms = time_alternating({variant: step}, options.device, options.warmup, options.repeats)[variant]
    return {"ms": ms, "peak_mb": _peak_mb(options.device)}


def _max_error(fused: tuple[torch.Tensor, ...], reference: tuple[torch.Tensor, ...]) -> float:
    pairs = zip(fused, reference, strict=True)
    return max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-12)) for a, b in pairs)


def _layer_steps(shape: tuple[int, ...], device: str) -> tuple[dict[str, Callable[[], object]], float]:
    """Steps of one layer shape (MaxPool2d; fused with the C++ kernels where built, and with the PyTorch steps;
    generic; reference) and the fused/reference relative error."""
    from benchmarks.reference_liftpool import reference_forward
    from liftpool_lightning import LiftDownPool2d
    from liftpool_lightning.nn.constants import PAPER_OPTIONS

    x = torch.randn(*shape, device=device, requires_grad=True)
    paper = PAPER_OPTIONS  # what the reference writes out: every band, random P/U, tanh, the paper's gradients
    fused = LiftDownPool2d(shape[1], device=device, **paper)
    generic = LiftDownPool2d(shape[1], device=device, fused=False, **paper)
    generic.load_state_dict(fused.state_dict())

    def layer_step(layer: LiftDownPool2d, default: bool = True) -> Callable[[], tuple[torch.Tensor, ...]]:
        def step() -> tuple[torch.Tensor, ...]:
            with contextlib.nullcontext() if default else use_backend("pytorch"):
                out = layer(x)
                grads = torch.autograd.grad(out.square().mean() + lifting_loss(layer), [x, *layer.parameters()])
            return tuple(t.detach() for t in (out, *grads))

        return step

    def reference_step() -> tuple[torch.Tensor, ...]:
        bands, c_u, c_p = reference_forward(fused, x)
        out = sum(bands.values())
        grads = torch.autograd.grad(out.square().mean() + 0.01 * c_u + 0.1 * c_p, [x, *fused.parameters()])
        return tuple(t.detach() for t in (out, *grads))

    def max_step() -> None:
        F.max_pool2d(x, 2).square().mean().backward()

    expected = reference_step()
    error = max(_max_error(layer_step(fused, default)(), expected) for default in (True, False))
    return {
        "max": max_step,
        "fused": layer_step(fused),
        "torch_ops": layer_step(fused, default=False),
        "generic": layer_step(generic),
        "reference": reference_step,
    }, error


def measure_layers(options: argparse.Namespace) -> list[dict]:
    torch.manual_seed(0)
    rows = []
    for shape in LAYER_SHAPES:
        steps, error = _layer_steps(shape, options.device)
        times = time_alternating(steps, options.device, options.warmup, options.repeats)
        rows.append({"shape": "x".join(map(str, shape)), **{f"{k}_ms": t for k, t in times.items()}, "error": error})
    return rows


def device_name(device: str) -> str:
    """The processor's or GPU's model name, for the report."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return f"CPU, {os.cpu_count()} cores"


def _ratio(value: float | None, baseline: float | None) -> str:
    return f"{value / baseline:.2f}x" if value is not None and baseline else ""


def markdown_report(results: dict, command: str) -> str:
    """The run's tables in Markdown: every variant of each workload against its baseline (the first variant), and the
    layer timings. What the docs include; written from the same numbers as the printed lines and the JSON."""
    settings = results["options"]
    flags = (("channels last", settings["channels_last"]), ("compiled", settings["compile"]))
    setup = ", ".join(["bfloat16 autocast" if settings["bf16"] else "float32", *(name for name, on in flags if on)])
    lines = [
        f"`{command}`",
        "",
        f"{results['device_name']} ({results['device']}), torch {results['torch']}, {setup}; the median of "
        f"{settings['repeats']} steps after {settings['warmup']} warm-up steps per process, and the median over "
        f"{settings['rounds']} processes per variant, taking turns.",
        "",
    ]
    workloads = [w for w in WORKLOADS if w in results]
    if workloads:
        header = "| workload (training step) | variant | time (ms) | time / baseline | peak memory (MB) "
        lines += [header + "| peak / baseline | kept for backward (MB) | kept / baseline |", "|---" * 8 + "|"]
        for workload in workloads:
            result = results[workload]
            name, _, batch, size, _ = WORKLOADS[workload]
            times, peak, saved = result["ms"], result["peak_mb"], result["saved_activation_mb"]
            baseline = next(iter(times))
            for variant in times:
                kept = saved.get(variant)
                cells = [f"{times[variant]:.0f}", _ratio(times[variant], times[baseline]), f"{peak[variant]:.0f}",
                         _ratio(peak[variant], peak[baseline]), "" if kept is None else f"{kept:.0f}",
                         _ratio(kept, saved.get(baseline))]  # fmt: skip
                label = f"`{name}`, batch {batch}, {size}x{size}" if variant == baseline else ""
                lines.append(f"| {label} | {variant} | " + " | ".join(cells) + " |")
        lines.append("")
    if "layers" in results:
        header = "| input shape | MaxPool2d (ms) | LiftPool (ms) | LiftPool / MaxPool2d | PyTorch steps / LiftPool "
        lines += ["One layer, forward + backward (the paper's options, which the reference writes out):", "",
                  header + "| generic / LiftPool | reference / LiftPool | max. relative error |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for row in results["layers"]:
            fused = row["fused_ms"]
            cells = [f"{row['max_ms']:.2f}", f"{fused:.2f}", _ratio(fused, row["max_ms"]),
                     _ratio(row["torch_ops_ms"], fused), _ratio(row["generic_ms"], fused),
                     _ratio(row["reference_ms"], fused), f"{row['error']:.1e}"]  # fmt: skip
            lines.append(f"| {row['shape']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _subprocess(arguments: list[str], passthrough: list[str]) -> object:
    command = [sys.executable, __file__, *arguments, *passthrough]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench_liftpool: {' '.join(arguments)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", nargs="+", default=[*WORKLOADS, "layers"], choices=[*WORKLOADS, "layers"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    parser.add_argument("--pytorch-steps", action="store_true", help="add LiftPool on the PyTorch steps")
    parser.add_argument("--triton", action="store_true", help="add LiftPool on the Triton kernels")
    parser.add_argument(
        "--paper-gradients",
        action="store_true",
        help="add LiftPool with constraint_gradients='all' (the losses' gradients into the features)",
    )
    parser.add_argument("--blur", action="store_true", help="add BlurPool (in SegNet: MaxUnpool + blur)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here (a docs results file)")
    parser.add_argument("--rounds", type=int, default=3, help="processes per variant, taking turns")
    parser.add_argument("--single", nargs=2, metavar=("WORKLOAD", "VARIANT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.single:
        print(json.dumps(measure(*options.single, options)))
        return
    passthrough = [a for a in sys.argv[1:] if a not in options.workloads and a != "--workloads"]
    passthrough = [a for i, a in enumerate(passthrough) if a != "--rounds" and passthrough[i - 1 : i] != ["--rounds"]]
    settings = {**vars(options), "json": str(options.json), "markdown": str(options.markdown)}
    results: dict[str, object] = {"device": options.device, "device_name": device_name(options.device),
                                  "torch": torch.__version__, "options": settings}  # fmt: skip
    for workload in options.workloads:
        if workload == "layers":
            results["layers"] = rows = measure_layers(options)
            print(f"{'layer fwd+bwd':<14}{'shape':<15}{'max':>7}{'fused':>8}{'torch ops':>10}{'generic':>9}"
                  f"{'reference':>10}{'fused/max':>11}{'torch ops/fused':>17}{'generic/fused':>15}"
                  f"{'reference/fused':>17}{'rel. error':>12}")  # fmt: skip
            for row in rows:
                timing = f"{row['max_ms']:7.2f}{row['fused_ms']:8.2f}{row['torch_ops_ms']:10.2f}"
                timing += f"{row['generic_ms']:9.2f}{row['reference_ms']:10.2f}"
                ratios = f"{row['fused_ms'] / row['max_ms']:11.2f}{row['torch_ops_ms'] / row['fused_ms']:17.2f}"
                ratios += f"{row['generic_ms'] / row['fused_ms']:15.2f}"
                ratios += f"{row['reference_ms'] / row['fused_ms']:17.2f}{row['error']:12.1e}"
                print(f"{'':<14}{row['shape']:<15}{timing}{ratios}")
            continue
        variants = _variants(workload, options)
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for _ in range(options.rounds):
            for variant in variants:
                runs[variant].append(_subprocess(["--single", workload, variant], passthrough))
        times = {v: statistics.median(r["ms"] for r in runs[v]) for v in variants}
        peak = {v: max(r["peak_mb"] for r in runs[v]) for v in variants}
        saved = {v: saved_activation_mb(workload, v, options) for v in variants if v not in (EAGER, PAPER_GRADIENTS)}
        baseline = variants[0]
        ratios = {
            "time_ratio": times["lift"] / times[baseline],
            "peak_memory_ratio": peak["lift"] / peak[baseline],
            "saved_activation_ratio": saved["lift"] / saved[baseline],
        }
        results[workload] = {"ms": times, "peak_mb": peak, "saved_activation_mb": saved, **ratios}
        cells = "  ".join(f"{v}: {times[v]:7.1f} ms {peak[v]:6.0f} MB" for v in WORKLOADS[workload][4])
        line = f"{workload:<9} {cells}  lift/{baseline}: time {ratios['time_ratio']:.2f}x, peak memory "
        line += f"{ratios['peak_memory_ratio']:.2f}x, saved activations {ratios['saved_activation_ratio']:.2f}x"
        if EAGER in times:
            results[workload]["compiled_over_eager"] = times["lift"] / times[EAGER]
            line += f"; compiled/eager lift: {times['lift'] / times[EAGER]:.2f}x"
        if PYTORCH_STEPS in times:
            results[workload]["pytorch_steps_over_native"] = times[PYTORCH_STEPS] / times["lift"]
            line += f"; pytorch steps: {times[PYTORCH_STEPS]:.1f} ms, {times[PYTORCH_STEPS] / times[baseline]:.2f}x"
        if TRITON in times:
            results[workload]["triton_over_default"] = times[TRITON] / times["lift"]
            results[workload]["triton_time_ratio"] = times[TRITON] / times[baseline]
            results[workload]["triton_saved_activation_ratio"] = saved[TRITON] / saved[baseline]
            line += f"; triton: {times[TRITON]:.1f} ms, {times[TRITON] / times[baseline]:.2f}x, saved activations "
            line += f"{saved[TRITON] / saved[baseline]:.2f}x"
        if BLUR in times:
            results[workload]["lift_over_blur"] = times["lift"] / times[BLUR]
            line += f"; {BLUR}: {times[BLUR]:.1f} ms, {times[BLUR] / times[baseline]:.2f}x, lift/{BLUR} "
            line += f"{times['lift'] / times[BLUR]:.2f}x"
        if PAPER_GRADIENTS in times:
            results[workload]["default_over_paper_gradients"] = times["lift"] / times[PAPER_GRADIENTS]
            line += f"; paper gradients: {times[PAPER_GRADIENTS]:.1f} ms, default/paper "
            line += f"{times['lift'] / times[PAPER_GRADIENTS]:.2f}x"
        print(line, flush=True)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    if options.markdown:
        given = sys.argv[1:]  # the command that reproduces the file, without where the JSON went
        kept = [a for i, a in enumerate(given) if a != "--json" and given[i - 1 : i] != ["--json"]]
        command = " ".join(["python benchmarks/bench_liftpool.py", *kept])
        options.markdown.write_text(markdown_report(results, command))


if __name__ == "__main__":
    main()
