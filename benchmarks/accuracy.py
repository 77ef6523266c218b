"""Accuracy study: train a grid of pools x options x seeds through the real CLI, then tabulate and plot it.

    python benchmarks/accuracy.py                                   # the README's study (quickstart, 3 seeds)
    python benchmarks/accuracy.py --variants max lift lift_paper --seeds 0 1 --epochs 4
    python benchmarks/accuracy.py --config configs/cifar100/vgg13_lift.yaml --variants max lift --seeds 0 \\
        --extra "--data.init_args.root data/cifar100"
    python benchmarks/accuracy.py --custom "lift_k7=--model.init_args.pool_options {kernel_size: 7}"

Every run is ``liftpool fit --config CONFIG --seed_everything SEED`` plus the variant's options, in its own process,
one after another, writing under ``OUTPUT/runs/VARIANT/seed_SEED``. A run whose ``metrics.csv`` already holds the last
epoch is not trained again, so an interrupted study resumes where it stopped and a grid can be extended. Then:

  OUTPUT/results.csv      one row per (variant, seed, epoch): validation and training top-1 accuracy, c_u, c_p
  OUTPUT/results.md       final validation top-1 per variant: mean +- std over the finished seeds, each seed's,
                          each seed's after the first epoch, and the difference to the first variant
  OUTPUT/val_accuracy.png validation top-1 per epoch, mean over seeds (band: min..max)

``--epochs`` changes the number of epochs; where the config steps a ``OneCycleLR`` its ``total_steps`` is scaled with
it, so the schedule still spans the run. Numbers are accuracy in percent.
"""

from __future__ import annotations

import argparse
import csv
import math
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
POOL_OPTIONS = "--model.init_args.pool_options"


def _lift(options: str | None = None, pool: str = "lift") -> list[str]:
    return ["--model.init_args.pool", pool, *([POOL_OPTIONS, options] if options else [])]


#: Every LiftPool variant names the options it changes, so a name keeps its meaning when the defaults change.
VARIANTS: dict[str, list[str]] = {
    "max": ["--model.init_args.pool", "max"],
    "avg": ["--model.init_args.pool", "avg"],
    "lift": _lift(),  # the defaults: the low band, max-lifting start, identity activation, losses on P/U only
    "lift_paper": _lift(pool="lift_paper"),  # PAPER_OPTIONS: all bands, random P/U, tanh, losses into the features
    "lift_haar_all": _lift("{bands: all, init: haar}"),  # the defaults until 2026-12 (tanh)
    "lift_all_kaiming": _lift("{bands: all, init: kaiming}"),
    "lift_max_all": _lift("{bands: all, init: max}"),
    "lift_tanh": _lift("{activation: tanh}"),  # the max-lifting start under the paper's tanh
    "lift_k3": _lift("{kernel_size: 3}"),
    "lift_no_constraints": [*_lift(), "--model.init_args.lambda_u", "0", "--model.init_args.lambda_p", "0"],
    # single bands: with the defaults (ll: max-lifting start; a detail band alone: random P/U, tanh), and started
    # as Haar, as max-lifting, or as the paper's
    **{f"lift_{band}": _lift(f"{{bands: [{band}]}}") for band in ("ll", "lh", "hl", "hh")},
    **{f"lift_{band}_haar": _lift(f"{{bands: [{band}], init: haar}}") for band in ("ll", "lh", "hl", "hh")},
    **{f"lift_{band}_max": _lift(f"{{bands: [{band}], init: max}}") for band in ("ll", "lh", "hl", "hh")},
    **{f"lift_paper_{band}": _lift(f"{{bands: [{band}]}}", "lift_paper") for band in ("ll", "lh", "hl", "hh")},
}
DEFAULT_VARIANTS = ["max", "lift", "lift_haar_all", "lift_max_all", "lift_paper", "lift_lh", "lift_hl", "lift_hh"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quickstart.yaml", help="the base config of every run")
    parser.add_argument("--variants", nargs="*", default=DEFAULT_VARIANTS,
                        help=f"from: {', '.join(VARIANTS)} (none: only the --custom ones)")  # fmt: skip
    parser.add_argument("--custom", action="append", default=[], metavar="NAME=ARGS",
                        help="an extra variant: a name and the CLI options it adds (repeatable)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs (and OneCycleLR)")
    parser.add_argument("--extra", default="", help="CLI options added to every run, e.g. the data set's")
    parser.add_argument("--output", default="runs/accuracy", help="folder of the runs and the results")
    parser.add_argument("--report-only", action="store_true", help="train nothing; tabulate the runs found")
    args = parser.parse_args(argv)
    variants = {}
    for name in args.variants:
        if name not in VARIANTS:
            parser.error(f"--variants: unknown variant {name!r}; choose from {', '.join(VARIANTS)} or use --custom")
        variants[name] = VARIANTS[name]
    for item in args.custom:
        name, sep, options = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"--custom takes NAME=ARGS, got {item!r}")
        variants[name.strip()] = shlex.split(options)
    if not variants:
        parser.error("no variant to train: give --variants NAME ... or --custom NAME=ARGS")
    args.variant_args = variants
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    return args


def schedule_options(config: Path, epochs: int | None) -> tuple[list[str], int]:
    """CLI options that set ``epochs`` (scaling a OneCycleLR's total_steps with it), and the epochs a run has."""
    loaded = yaml.safe_load(config.read_text()) or {}
    configured = int((loaded.get("trainer") or {}).get("max_epochs", 1))
    if epochs is None:
        return [], configured
    options = ["--trainer.max_epochs", str(epochs)]
    scheduler = ((loaded.get("model") or {}).get("init_args") or {}).get("lr_scheduler") or {}
    steps = (scheduler.get("init_args") or {}).get("total_steps")
    if str(scheduler.get("class_path", "")).endswith("OneCycleLR") and steps:
        scaled = math.ceil(int(steps) * epochs / configured)
        options += ["--model.init_args.lr_scheduler.init_args.total_steps", str(scaled)]
    return options, epochs


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """Per-epoch metrics of a CSVLogger run folder (the newest version), one dict per epoch, accuracies in %."""
    files = sorted(run_dir.glob("**/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not files:
        return []
    epochs: dict[int, dict[str, float]] = {}
    with files[-1].open() as handle:
        for row in csv.DictReader(handle):
            if not row.get("epoch"):
                continue
            entry = epochs.setdefault(int(float(row["epoch"])), {})
            for key, column in (("val_top1", "val/top1_accuracy"), ("train_top1", "train/top1_accuracy"),
                                ("val_c_u", "val/c_u"), ("val_c_p", "val/c_p")):  # fmt: skip
                if row.get(column):
                    entry[key] = float(row[column]) * (100.0 if "top1" in key else 1.0)
    return [dict(epoch=epoch, **values) for epoch, values in sorted(epochs.items()) if "val_top1" in values]


def train(args: argparse.Namespace, name: str, options: list[str], seed: int, schedule: list[str], epochs: int) -> Path:
    run_dir = Path(args.output) / "runs" / name / f"seed_{seed}"
    done = read_metrics(run_dir)
    if len(done) >= epochs:
        print(f"[{name} seed {seed}] done before, kept ({run_dir})", flush=True)
        return run_dir
    if run_dir.exists():  # an interrupted run: start it again from scratch, in a clean folder
        shutil.rmtree(run_dir)
    command = [sys.executable, "-m", "liftpool_lightning", "fit", "--config", args.config,
               "--seed_everything", str(seed), "--trainer.default_root_dir", str(run_dir),
               "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
               "--trainer.logger.init_args.save_dir", str(run_dir),
               "--trainer.enable_progress_bar", "false", *schedule, *options, *shlex.split(args.extra)]  # fmt: skip
    print(f"[{name} seed {seed}] {shlex.join(command[2:])}", flush=True)
    start = time.monotonic()
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "fit.log").open("w") as log:
        result = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = (run_dir / "fit.log").read_text().splitlines()[-5:]
        raise SystemExit(f"[{name} seed {seed}] failed (exit {result.returncode}):\n" + "\n".join(tail))
    metrics = read_metrics(run_dir)
    final = metrics[-1]["val_top1"] if metrics else float("nan")
    print(f"[{name} seed {seed}] {time.monotonic() - start:.0f} s, val top-1 {final:.1f}%", flush=True)
    return run_dir


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} +- {std:.1f}"


def report(args: argparse.Namespace, epochs: int) -> None:
    output = Path(args.output)
    rows = []
    for name in args.variant_args:
        for seed in args.seeds:
            for entry in read_metrics(output / "runs" / name / f"seed_{seed}"):
                rows.append({"variant": name, "seed": seed, **entry})
    columns = ["variant", "seed", "epoch", "val_top1", "train_top1", "val_c_u", "val_c_p"]
    with (output / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    def final(name: str) -> list[float]:
        last = {r["seed"]: r["val_top1"] for r in rows if r["variant"] == name and r["epoch"] == epochs - 1}
        return [last[s] for s in args.seeds if s in last]

    names = [n for n in args.variant_args if final(n)]
    if not names:
        print("no finished run to report", flush=True)
        return
    reference = statistics.fmean(final(names[0]))
    lines = [
        f"Validation top-1 accuracy (%) after epoch {epochs}, mean +- std over the seeds finished of {args.seeds} "
        f"(`{args.config}`{', ' + args.extra if args.extra else ''}).",
        "",
        f"| variant | val top-1 | seeds | per seed | val top-1 after epoch 1 (per seed) | vs {names[0]} |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        values = final(name)
        seeds = [s for s in args.seeds if any(r["variant"] == name and r["seed"] == s and r["epoch"] == epochs - 1
                                              for r in rows)]  # fmt: skip
        first = [r["val_top1"] for s in seeds for r in rows if r["variant"] == name and r["seed"] == s
                 and r["epoch"] == 0]  # fmt: skip
        per_seed = " / ".join(f"{v:.1f}" for v in values)
        delta = statistics.fmean(values) - reference
        lines.append(f"| {name} | {mean_std(values)} | {len(values)} | {per_seed} | "
                     f"{' / '.join(f'{v:.1f}' for v in first)} | {delta:+.1f} |")  # fmt: skip
    (output / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    plot(rows, names, output / "val_accuracy.png", epochs)


def plot(rows: list[dict], names: list[str], path: Path, epochs: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for index, name in enumerate(names):
        xs, means, lows, highs = [], [], [], []
        for epoch in range(epochs):
            values = [r["val_top1"] for r in rows if r["variant"] == name and r["epoch"] == epoch]
            if values:
                xs.append(epoch + 1)
                means.append(statistics.fmean(values))
                lows.append(min(values))
                highs.append(max(values))
        line = axes.plot(xs, means, marker="o", markersize=3, label=name, color=palette(index))[0]
        axes.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.15)
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation top-1 accuracy (%)")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    print(f"wrote {path}", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = (REPO / args.config) if not Path(args.config).is_absolute() else Path(args.config)
    if not config.is_file():
        raise SystemExit(f"--config: no such file {args.config}")
    schedule, epochs = schedule_options(config, args.epochs)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    args.output = str(Path(args.output).resolve())
    if not args.report_only:
        for seed in args.seeds:  # seed-major: a partial study already has every variant
            for name, options in args.variant_args.items():
                train(args, name, options, seed, schedule, epochs)
    report(args, epochs)


if __name__ == "__main__":
    main()
