"""Accuracy study: train a grid of pools x options x seeds through the real CLI, then tabulate and plot it.

    python benchmarks/accuracy.py                                   # the classification study (quickstart, 3 seeds)
    python benchmarks/accuracy.py --config configs/quickstart_segmentation.yaml --output runs/segmentation
    python benchmarks/accuracy.py --variants max lift lift_paper --seeds 0 1 --epochs 4
    python benchmarks/accuracy.py --config configs/cifar100/vgg13_lift.yaml --variants max lift --seeds 0 \\
        --extra "--data.init_args.root data/cifar100"
    python benchmarks/accuracy.py --variants max lift \\
        --custom "lift_k7=--model.init_args.pool lift --model.init_args.pool_options {kernel_size: 7}"
    python benchmarks/accuracy.py --variants max avg lift --seeds 1 --stop-after 3 --output runs/screen

Every run is ``liftpool fit --config CONFIG --seed_everything SEED`` plus the variant's options, in its own process,
one after another, writing under ``OUTPUT/runs/VARIANT/seed_SEED``. A run whose ``metrics.csv`` already holds the last
epoch is not trained again, so an interrupted study resumes where it stopped and a grid can be extended. Then:

  OUTPUT/results.csv      one row per (variant, seed, epoch): each metric on validation and training, c_u, c_p
  OUTPUT/results.md       the first metric after the last epoch per variant: mean +- std over the finished seeds,
                          each seed's, each seed's after the first epoch, the other metrics' mean +- std, and the
                          difference to the first variant
  OUTPUT/val_METRIC.png   the first metric on validation per epoch, mean over seeds (band: min..max)

``--metrics`` names what the task logs (``val/NAME``): by default ``top1_accuracy`` for a classification config
(written ``top1``, the plot ``val_accuracy.png``) and ``miou pixel_accuracy boundary_iou`` for a segmentation one.
``--epochs`` changes the number of epochs; where the config steps a ``OneCycleLR`` its ``total_steps`` is scaled with
it, so the schedule still spans the run. ``--stop-after N`` screens: each run follows the full schedule but stops
after epoch N, and the table is taken there. Numbers are in percent.
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
    "blur": ["--model.init_args.pool", "blur"],  # BlurPool (Zhang 2019): max, then a blur before subsampling
    "lift": _lift(),  # the defaults: the low band, max-lifting start, identity activation, losses on P/U only
    "lift_paper": _lift(pool="lift_paper"),  # PAPER_OPTIONS: all bands, random P/U, tanh, losses into the features
    "lift_haar_all": _lift("{bands: all, init: haar}"),  # the former defaults (tanh)
    "lift_all_kaiming": _lift("{bands: all, init: kaiming}"),
    "lift_max_all": _lift("{bands: all, init: max}"),
    "lift_tanh": _lift("{activation: tanh}"),  # the max-lifting start under the paper's tanh
    "lift_k3": _lift("{kernel_size: 3}"),
    "lift_detail_weight": _lift("{detail_weight: true}"),  # ll + w * (lh + hl + hh), w learned per channel from 0
    "lift_no_constraints": [*_lift(), "--model.init_args.lambda_u", "0", "--model.init_args.lambda_p", "0"],
    # P and U at 10 times or a tenth of the network's learning rate, every scheduled rate included
    "lift_pool_lr_x10": [*_lift(), "--model.init_args.pool_lr_scale", "10"],
    "lift_pool_lr_x0.1": [*_lift(), "--model.init_args.pool_lr_scale", "0.1"],
    # single bands: with the defaults (ll: max-lifting start; a detail band alone: random P/U, tanh), and started
    # as Haar, as max-lifting, or as the paper's
    **{f"lift_{band}": _lift(f"{{bands: [{band}]}}") for band in ("ll", "lh", "hl", "hh")},
    **{f"lift_{band}_haar": _lift(f"{{bands: [{band}], init: haar}}") for band in ("ll", "lh", "hl", "hh")},
    **{f"lift_{band}_max": _lift(f"{{bands: [{band}], init: max}}") for band in ("ll", "lh", "hl", "hh")},
    **{f"lift_paper_{band}": _lift(f"{{bands: [{band}]}}", "lift_paper") for band in ("ll", "lh", "hl", "hh")},
    # encoder-decoders: how the decoder up-samples (a max pool's MaxUnpool is the default up-pool of "max")
    "max_unpool_blur": ["--model.init_args.pool", "max", "--model.init_args.up_pool", "maxunpool+blur"],
    "max_bilinear": ["--model.init_args.pool", "max", "--model.init_args.up_pool", "bilinear"],
    # LiftDownPool in the encoder, bilinear up-sampling in the decoder: what the encoder's pools alone bring
    "lift_bilinear": [*_lift(), "--model.init_args.up_pool", "bilinear"],
    # an anti-aliased encoder (MaxBlurPool keeping the max indices) with MaxUnpool, then also a blur after it
    "blur_unpool": ["--model.init_args.pool", "blur"],
    "blur_unpool_blur": ["--model.init_args.pool", "blur", "--model.init_args.up_pool", "maxunpool+blur"],
}
DEFAULT_VARIANTS = ["max", "lift", "lift_haar_all", "lift_max_all", "lift_paper", "lift_lh", "lift_hl", "lift_hh"]
SEGMENTATION_VARIANTS = ["max", "max_unpool_blur", "lift", "lift_paper", "max_bilinear", "lift_bilinear"]
METRICS = {"classification": ["top1_accuracy"], "segmentation": ["miou", "pixel_accuracy", "boundary_iou"]}


def metric_key(name: str) -> str:
    """The column stem of a logged metric (``top1_accuracy`` keeps its historical ``top1``)."""
    return "top1" if name == "top1_accuracy" else name


def config_task(config: Path) -> str:
    """``segmentation`` when the config trains a SegmentationTask, else ``classification``."""
    loaded = yaml.safe_load(config.read_text()) or {}
    class_path = str(((loaded.get("model") or {}).get("class_path")) or "")
    return "segmentation" if class_path.rsplit(".", 1)[-1] == "SegmentationTask" else "classification"


def custom_options(text: str) -> list[str]:
    """The CLI arguments of a ``--custom`` variant: shell words, with the words after an option up to the next option
    joined into its value, so ``--model.init_args.pool_options {kernel_size: 7}`` needs no inner quotes."""
    groups: list[list[str]] = []
    for word in shlex.split(text):
        if word.startswith("--") or not groups:
            groups.append([word])
        else:
            groups[-1].append(word)
    arguments: list[str] = []
    for option, *words in groups:
        if not words:
            arguments.append(option)
        elif "=" in option or not option.startswith("--"):
            arguments.append(" ".join([option, *words]))
        else:
            arguments += [option, " ".join(words)]
    return arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quickstart.yaml", help="the base config of every run")
    defaults = f"{' '.join(DEFAULT_VARIANTS)}, or {' '.join(SEGMENTATION_VARIANTS)} for segmentation"
    choices = f"from: {', '.join(VARIANTS)} (none: only the --custom ones; default: {defaults})"
    parser.add_argument("--variants", nargs="*", default=None, help=choices)
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="logged metrics to tabulate, the first one headlines (default: by the task)")  # fmt: skip
    parser.add_argument("--custom", action="append", default=[], metavar="NAME=ARGS",
                        help="an extra variant: a name and the CLI options it adds (repeatable)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs (and OneCycleLR)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="stop every run after epoch N of its schedule (a screen) and tabulate there")  # fmt: skip
    parser.add_argument("--extra", default="", help="CLI options added to every run, e.g. the data set's")
    parser.add_argument("--output", default="runs/accuracy", help="folder of the runs and the results")
    parser.add_argument("--report-only", action="store_true", help="train nothing; tabulate the runs found")
    args = parser.parse_args(argv)
    args.config_path = config = (REPO / args.config) if not Path(args.config).is_absolute() else Path(args.config)
    task = config_task(config) if config.is_file() else "classification"
    if args.variants is None:
        args.variants = SEGMENTATION_VARIANTS if task == "segmentation" else DEFAULT_VARIANTS
    args.metrics = args.metrics or METRICS[task]
    variants = {}
    for name in args.variants:
        if name not in VARIANTS:
            parser.error(f"--variants: unknown variant {name!r}; choose from {', '.join(VARIANTS)} or use --custom")
        variants[name] = VARIANTS[name]
    for item in args.custom:
        name, sep, options = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"--custom takes NAME=ARGS, got {item!r}")
        variants[name.strip()] = custom_options(options)
    if not variants:
        parser.error("no variant to train: give --variants NAME ... or --custom NAME=ARGS")
    args.variant_args = variants
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.stop_after is not None and args.stop_after < 1:
        parser.error(f"--stop-after must be >= 1, got {args.stop_after}")
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


def stop_early(schedule: list[str], epochs: int, stop_after: int | None) -> tuple[list[str], int]:
    """The options that end runs of an ``epochs``-long schedule after ``stop_after`` epochs (the schedule itself,
    a OneCycleLR's total_steps included, is unchanged), and the epochs a run then has."""
    if stop_after is None or stop_after >= epochs:
        return schedule, epochs
    flag = "--trainer.max_epochs"
    kept = [option for index, option in enumerate(schedule)
            if option != flag and (index == 0 or schedule[index - 1] != flag)]  # fmt: skip
    return [*kept, flag, str(stop_after)], stop_after


def read_metrics(run_dir: Path, metrics: list[str] | tuple[str, ...] = ("top1_accuracy",)) -> list[dict[str, float]]:
    """Per-epoch metrics of a CSVLogger run folder (the newest version), one dict per epoch: ``val_KEY`` and
    ``train_KEY`` for each of ``metrics`` (in %, see :func:`metric_key`), ``val_c_u`` and ``val_c_p``; only epochs
    with the first metric's validation value."""
    files = sorted(run_dir.glob("**/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not files:
        return []
    epochs: dict[int, dict[str, float]] = {}
    with files[-1].open() as handle:
        for row in csv.DictReader(handle):
            if not row.get("epoch"):
                continue
            entry = epochs.setdefault(int(float(row["epoch"])), {})
            for metric in metrics:
                for split in ("val", "train"):
                    if row.get(f"{split}/{metric}"):
                        entry[f"{split}_{metric_key(metric)}"] = float(row[f"{split}/{metric}"]) * 100.0
            for key, column in (("val_c_u", "val/c_u"), ("val_c_p", "val/c_p")):
                if row.get(column):
                    entry[key] = float(row[column])
    headline = f"val_{metric_key(metrics[0])}"
    return [dict(epoch=epoch, **values) for epoch, values in sorted(epochs.items()) if headline in values]


def train(args: argparse.Namespace, name: str, options: list[str], seed: int, schedule: list[str], epochs: int) -> Path:
    run_dir = Path(args.output) / "runs" / name / f"seed_{seed}"
    done = read_metrics(run_dir, args.metrics)
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
    metrics = read_metrics(run_dir, args.metrics)
    headline = metric_key(args.metrics[0])
    final = metrics[-1][f"val_{headline}"] if metrics else float("nan")
    print(f"[{name} seed {seed}] {time.monotonic() - start:.0f} s, val {headline} {final:.1f}%", flush=True)
    return run_dir


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} +- {std:.1f}"


LABELS = {"top1": "top-1", "miou": "mIoU", "pixel_accuracy": "pixel accuracy", "boundary_iou": "boundary IoU"}


def _label(key: str) -> str:
    return LABELS.get(key, key)


def report(args: argparse.Namespace, epochs: int, schedule_epochs: int | None = None) -> None:
    output = Path(args.output)
    keys = [metric_key(metric) for metric in args.metrics]
    headline = keys[0]
    rows = []
    for name in args.variant_args:
        for seed in args.seeds:
            for entry in read_metrics(output / "runs" / name / f"seed_{seed}", args.metrics):
                rows.append({"variant": name, "seed": seed, **entry})
    columns = ["variant", "seed", "epoch", *(f"{split}_{key}" for key in keys for split in ("val", "train")),
               "val_c_u", "val_c_p"]  # fmt: skip
    with (output / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    def final(name: str, key: str = headline) -> list[float]:
        last = {r["seed"]: r[f"val_{key}"] for r in rows
                if r["variant"] == name and r["epoch"] == epochs - 1 and f"val_{key}" in r}  # fmt: skip
        return [last[s] for s in args.seeds if s in last]

    names = [n for n in args.variant_args if final(n)]
    if not names:
        print("no finished run to report", flush=True)
        return
    reference = statistics.fmean(final(names[0]))
    label = _label(headline)
    others = keys[1:]
    of_schedule = f" of the {schedule_epochs}-epoch schedule" if schedule_epochs and schedule_epochs > epochs else ""
    lines = [
        f"Validation {label} (%) after epoch {epochs}{of_schedule}, mean +- std over the seeds finished of "
        f"{args.seeds} (`{args.config}`{', ' + args.extra if args.extra else ''}).",
        "",
        f"| variant | val {label} | seeds | per seed | val {label} after epoch 1 (per seed) | "
        + "".join(f"val {_label(key)} | " for key in others)
        + f"vs {names[0]} |",
        "|---|---|---|---|---|" + "---|" * len(others) + "---|",
    ]
    for name in names:
        values = final(name)
        seeds = [s for s in args.seeds if any(r["variant"] == name and r["seed"] == s and r["epoch"] == epochs - 1
                                              for r in rows)]  # fmt: skip
        first = [r[f"val_{headline}"] for s in seeds for r in rows if r["variant"] == name and r["seed"] == s
                 and r["epoch"] == 0]  # fmt: skip
        per_seed = " / ".join(f"{v:.1f}" for v in values)
        delta = statistics.fmean(values) - reference
        lines.append(f"| {name} | {mean_std(values)} | {len(values)} | {per_seed} | "
                     f"{' / '.join(f'{v:.1f}' for v in first)} | "
                     + "".join(f"{mean_std(final(name, key))} | " for key in others)
                     + f"{delta:+.1f} |")  # fmt: skip
    (output / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    plot(rows, names, output / f"val_{'accuracy' if headline == 'top1' else headline}.png", epochs, headline)


def plot(rows: list[dict], names: list[str], path: Path, epochs: int, key: str = "top1") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for index, name in enumerate(names):
        xs, means, lows, highs = [], [], [], []
        for epoch in range(epochs):
            values = [r[f"val_{key}"] for r in rows if r["variant"] == name and r["epoch"] == epoch]
            if values:
                xs.append(epoch + 1)
                means.append(statistics.fmean(values))
                lows.append(min(values))
                highs.append(max(values))
        line = axes.plot(xs, means, marker="o", markersize=3, label=name, color=palette(index))[0]
        axes.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.15)
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"validation {_label(key)} (%)")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    print(f"wrote {path}", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = args.config_path
    if not config.is_file():
        raise SystemExit(f"--config: no such file {args.config}")
    schedule, schedule_epochs = schedule_options(config, args.epochs)
    schedule, epochs = stop_early(schedule, schedule_epochs, args.stop_after)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    args.output = str(Path(args.output).resolve())
    if not args.report_only:
        for seed in args.seeds:  # seed-major: a partial study already has every variant
            for name, options in args.variant_args.items():
                train(args, name, options, seed, schedule, epochs)
    report(args, epochs, schedule_epochs)


if __name__ == "__main__":
    main()
