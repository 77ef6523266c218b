"""Robustness over seeds: train the quickstart with each pool and seed, evaluate each model on the synthetic
corruptions, perturbation sequences and shifts, and tabulate mean +- std with every model normalised by the MaxPool
model of its own seed.

    python benchmarks/robustness_study.py                       # max blur avg lift lift_paper, seeds 0 1 2
    python benchmarks/robustness_study.py --variants max lift --seeds 0 --epochs 2 --output runs/robust_try

Training is ``benchmarks/accuracy.py``'s (same variants, same resumable run folders, under ``OUTPUT/train``); each
evaluation is ``liftpool test --config configs/robustness/synthetic.yaml --model.init_args.checkpoint LATEST`` in its
own process, its files under ``OUTPUT/eval/VARIANT/seed_SEED`` (an evaluation whose ``results.json`` exists is kept).
The normalised scores are computed here from the raw errors, with ``liftpool_lightning.robustness.report.summarize``
(the function the evaluation itself uses), so no evaluation waits for another. Then:

  OUTPUT/results.csv   one row per (variant, seed): clean error, mCE, CE and relative mCE normalised by MaxPool,
                       mean flip probability, mFR normalised by MaxPool, shift consistency
  OUTPUT/results.md    mean +- std over the seeds of each, in percent
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.accuracy import REPO, VARIANTS, mean_std, schedule_options, train
from liftpool_lightning.checkpointing.resolve import search_last_checkpoint
from liftpool_lightning.robustness.report import summarize

CONFIG = "configs/quickstart.yaml"
EVALUATION = "configs/robustness/synthetic.yaml"
DEFAULT_VARIANTS = ["max", "blur", "avg", "lift", "lift_paper"]
BASELINE = "max"

#: (column, heading, where in an evaluation's results): every score in percent.
SCORES = [
    ("clean_error", "clean error", ("clean_error",)),
    ("mce", "mCE (unnormalised)", ("summary", "mean_unnormalized_ce")),
    ("mce_vs_max", "mCE vs MaxPool", ("summary", "baseline_mce")),
    ("relative_mce_vs_max", "relative mCE vs MaxPool", ("summary", "baseline_relative_mce")),
    ("mean_flip_probability", "mean flip probability", ("summary", "mean_flip_probability")),
    ("mfr_vs_max", "mFR vs MaxPool", ("summary", "baseline_mfr")),
    ("shift_consistency", "shift consistency", ("shift_consistency",)),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help=f"from: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override the quickstart's epochs (and OneCycle)")
    parser.add_argument("--extra", default="", help="CLI options added to every training run")
    parser.add_argument("--eval-extra", default="", help="CLI options added to every evaluation")
    parser.add_argument("--output", default="runs/robustness_study")
    parser.add_argument("--report-only", action="store_true", help="run nothing; tabulate the evaluations found")
    args = parser.parse_args(argv)
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if BASELINE not in args.variants:
        parser.error(f"--variants must include {BASELINE}: every score is normalised by the MaxPool model")
    args.output = str(Path(args.output).resolve())
    return args


def evaluate(args: argparse.Namespace, name: str, seed: int, run_dir: Path) -> Path:
    """The robustness evaluation of ``run_dir``'s latest checkpoint; returns its results.json."""
    out = Path(args.output) / "eval" / name / f"seed_{seed}"
    results = out / "results.json"
    if results.is_file():
        print(f"[{name} seed {seed}] evaluated before, kept ({results})", flush=True)
        return results
    latest = search_last_checkpoint([run_dir]).found  # what `--ckpt_path last` would resume: the most steps
    if latest is None:
        raise SystemExit(f"[{name} seed {seed}] no checkpoint under {run_dir}")
    command = [sys.executable, "-m", "liftpool_lightning", "test", "--config", EVALUATION,
               "--model.init_args.checkpoint", str(latest), "--model.init_args.output_dir", str(out),
               "--model.init_args.name", f"{name} seed {seed}", "--trainer.default_root_dir", str(out),
               "--trainer.logger.init_args.save_dir", str(out), "--trainer.enable_progress_bar", "false",
               *args.eval_extra.split()]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with (out / "test.log").open("w") as log:
        result = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0 or not results.is_file():
        tail = (out / "test.log").read_text().splitlines()[-5:]
        raise SystemExit(f"[{name} seed {seed}] evaluation failed (exit {result.returncode}):\n" + "\n".join(tail))
    print(f"[{name} seed {seed}] evaluated in {time.monotonic() - start:.0f} s", flush=True)
    return results


def _get(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = results
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return None if value is None else float(value) * 100.0


def scores(results: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """Every score of ``results`` (raw, as the evaluation wrote them), normalised by ``baseline``'s raw errors."""
    summarized = summarize({key: value for key, value in results.items() if key != "summary"}, baseline)
    return {column: _get(summarized, path) for column, _, path in SCORES}


def report(args: argparse.Namespace) -> list[dict[str, Any]]:
    output = Path(args.output)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        base_file = output / "eval" / BASELINE / f"seed_{seed}" / "results.json"
        if not base_file.is_file():
            continue
        baseline = json.loads(base_file.read_text())
        for name in args.variants:
            path = output / "eval" / name / f"seed_{seed}" / "results.json"
            if path.is_file():
                rows.append({"variant": name, "seed": seed, **scores(json.loads(path.read_text()), baseline)})
    with (output / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["variant", "seed", *(column for column, _, _ in SCORES)])
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"Robustness of the quickstart models (`{CONFIG}`{', ' + args.extra if args.extra else ''}) on "
        f"`{EVALUATION}`, mean +- std over the seeds of {args.seeds} evaluated, in percent; CE, relative CE and FR "
        f"normalised by the MaxPool model of the same seed (lower is better, except shift consistency).",
        "",
        "| variant | seeds | " + " | ".join(heading for _, heading, _ in SCORES) + " |",
        "|---|---|" + "---|" * len(SCORES),
    ]
    for name in args.variants:
        mine = [row for row in rows if row["variant"] == name]
        if not mine:
            continue
        cells = [mean_std([row[column] for row in mine if row[column] is not None]) for column, _, _ in SCORES]
        lines.append(f"| {name} | {len(mine)} | " + " | ".join(cells) + " |")
    (output / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        schedule, epochs = schedule_options(REPO / CONFIG, args.epochs)
        training = argparse.Namespace(output=str(Path(args.output) / "train"), config=CONFIG, extra=args.extra,
                                      metrics=["top1_accuracy"])  # fmt: skip
        for seed in args.seeds:  # seed-major: a partial study already compares every pool
            for name in args.variants:
                run_dir = train(training, name, VARIANTS[name], seed, schedule, epochs)
                evaluate(args, name, seed, run_dir)
    report(args)


if __name__ == "__main__":
    main()
