"""Where a training step's extra time goes: LiftPool against its baseline, op by op (a script, not a test).

    python benchmarks/profile_step.py                                   # SegNet on the CPU
    python benchmarks/profile_step.py --workload vgg13 --markdown docs/results/profile_vgg13_cpu.md

The workloads and training steps are those of ``bench_liftpool.py``. Each variant runs in its own process, --rounds
times, taking turns: --warmup steps, then --steps steps under ``torch.profiler``; per op the median over processes.
The table lists each op's self time per step in both variants and the difference, the largest differences first, then
the totals; an op's self time leaves out the ops it calls, so the rows add up to the step. The profiler adds its own
overhead per op call, more for the variant with more calls: compare the differences, not the absolute times, with
``bench_liftpool.py``'s. CPU only: on a GPU a kernel's time is reported by its launching op and by the kernel's own
event, which this sum would count twice.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_liftpool import WORKLOADS, device_name, training_step

OpTimes = dict[str, tuple[float, float]]
"""Op name -> (self milliseconds per step, calls per step)."""


def profile_steps(step: Callable[[], object], steps: int, warmup: int) -> OpTimes:
    """Self CPU time and calls per step of every op that ``steps`` calls of ``step`` run, after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    return {
        event.key: (event.self_cpu_time_total / 1000 / steps, event.count / steps) for event in profiler.key_averages()
    }


def median_op_times(runs: list[OpTimes]) -> OpTimes:
    """Per op, the median over processes of its time and calls per step (0 in a process that did not run it)."""
    names = sorted({name for run in runs for name in run})
    zero = (0.0, 0.0)
    return {
        name: (statistics.median(run.get(name, zero)[0] for run in runs),
               statistics.median(run.get(name, zero)[1] for run in runs))
        for name in names
    }  # fmt: skip


def difference_table(baseline: str, baseline_ops: OpTimes, variant: str, variant_ops: OpTimes, rows: int) -> str:
    """Markdown: the ``rows`` ops whose self time per step grows most from ``baseline`` to ``variant``, the rest
    summed, then the totals."""
    names = sorted(set(baseline_ops) | set(variant_ops))
    zero = (0.0, 0.0)
    grown = sorted(names, key=lambda name: variant_ops.get(name, zero)[0] - baseline_ops.get(name, zero)[0])[::-1]
    total_base = sum(ms for ms, _ in baseline_ops.values())
    total_variant = sum(ms for ms, _ in variant_ops.values())
    extra = total_variant - total_base
    lines = [
        f"| op | {baseline} (ms per step) | {variant} (ms per step) | difference (ms) | share of the difference "
        f"| calls per step ({baseline} -> {variant}) |",
        "|---|---|---|---|---|---|",
    ]

    def row(label: str, base: float, other: float, calls: str) -> str:
        share = f"{(other - base) / extra:.0%}" if extra else ""
        return f"| {label} | {base:.1f} | {other:.1f} | {other - base:+.1f} | {share} | {calls} |"

    for name in grown[:rows]:
        (base_ms, base_calls), (ms, calls) = baseline_ops.get(name, zero), variant_ops.get(name, zero)
        lines.append(row(f"`{name}`", base_ms, ms, f"{base_calls:.0f} -> {calls:.0f}"))
    rest = grown[rows:]
    base_rest = sum(baseline_ops.get(name, zero)[0] for name in rest)
    variant_rest = sum(variant_ops.get(name, zero)[0] for name in rest)
    lines.append(row(f"the other {len(rest)} ops", base_rest, variant_rest, ""))
    lines.append(row("**total**", total_base, total_variant, f"ratio {total_variant / total_base:.2f}x"))
    return "\n".join(lines)


def _run_single(variant: str, options: argparse.Namespace) -> OpTimes:
    command = [sys.executable, __file__, "--single", variant, "--workload", options.workload,
               "--steps", str(options.steps), "--warmup", str(options.warmup)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"profile_step: {variant} failed:\n{result.stderr[-3000:]}")
    return {name: (ms, calls) for name, (ms, calls) in json.loads(result.stdout.strip().splitlines()[-1]).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="segnet", choices=list(WORKLOADS))
    parser.add_argument("--steps", type=int, default=3, help="profiled steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rows", type=int, default=12, help="ops listed one by one")
    parser.add_argument("--rounds", type=int, default=3, help="processes per variant, taking turns")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here (a docs results file)")
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    step_options = argparse.Namespace(device="cpu", compile=False, channels_last=False, bf16=False)
    if options.single:
        torch.manual_seed(0)
        step = training_step(options.workload, options.single, step_options)
        print(json.dumps(profile_steps(step, options.steps, options.warmup)))
        return
    baseline, variant = list(WORKLOADS[options.workload][4])
    rounds: dict[str, list[OpTimes]] = {baseline: [], variant: []}
    for _ in range(options.rounds):  # the variants take turns, so a busy machine slows both alike
        for name in rounds:
            rounds[name].append(_run_single(name, options))
    ops = {name: median_op_times(runs) for name, runs in rounds.items()}
    name, _, batch, size, _ = WORKLOADS[options.workload]
    given = " ".join(["python benchmarks/profile_step.py", *(sys.argv[1:] if argv is None else argv)])
    text = "\n".join(
        [
            f"`{given}`",
            "",
            f"`{name}`, batch {batch}, {size}x{size}, one training step (float32, {device_name('cpu')}, "
            f"torch {torch.__version__}): self time per op, the mean of {options.steps} profiled steps after "
            f"{options.warmup} warm-up steps per process, and the median over {options.rounds} processes per "
            "variant, taking turns.",
            "",
            difference_table(baseline, ops[baseline], variant, ops[variant], options.rows),
            "",
        ]
    )
    print(text)
    if options.markdown:
        options.markdown.write_text(text)


if __name__ == "__main__":
    main()
