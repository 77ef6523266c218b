"""What the constraint losses do to a network in its first epochs (a script, not a test).

    python benchmarks/constraint_diagnostics.py                   # quickstart model and data, 3 epochs, 10 runs
    python benchmarks/constraint_diagnostics.py --epochs 1 --runs max lift_paper

Trains the quickstart's model (``small_vgg`` on the embedded synthetic shapes, batch 64) in this process with one
pool and optimiser per run, and every ``--every`` steps records, for each pool layer (``pool1`` .. ``pool3``):

  feature_rms   root mean square of the pool's input (the ReLU output of the BatchNorm before it)
  bn_gamma      mean |weight| of that BatchNorm (the scale the network gives those features)
  grad_task     norm of the task loss's gradient at the pool's input
  grad_lift     norm of the weighted lifting loss's gradient there (lambda_u * c_u + lambda_p * c_p)
  bn_grad_task  norm of the task loss's gradient at that BatchNorm's weight and bias (what the optimiser sees)
  bn_grad_lift  the same for the weighted lifting loss
  c_u, c_p      the layer's constraint losses (summed over its three lifting steps)
  p_error       mean(d^2) / mean(x_o^2) of the layer's first (W) lifting step: 1 when P predicts no better than 0

and the batch's training accuracy. Runs (``--runs``), with the quickstart's AdamW + one-cycle: ``max``;
``lift_paper`` (the paper's layer, ``PAPER_OPTIONS``); ``lift_kaiming`` (the same with the losses' gradients to P/U
only); ``lift_haar_all`` (that with ``init="haar"``: the former defaults); ``lift`` (the defaults: the low band,
max-lifting start, no tanh); and each again with the paper's
SGD (lr 0.1, momentum 0.9, weight decay 5e-4, constant over the window): ``*_sgd``. Runs already in
``OUTPUT/diagnostics.csv`` are kept, not trained again (``--force`` retrains). Writes ``OUTPUT/diagnostics.csv``,
``OUTPUT/diagnostics.md`` (a table at a few steps) and ``OUTPUT/diagnostics.png``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liftpool_lightning import LiftDownPool2d, lifting_loss, lifting_losses
from liftpool_lightning.data import SyntheticShapesDataModule
from liftpool_lightning.models import create_network
from liftpool_lightning.nn.constants import PAPER_OPTIONS
from liftpool_lightning.nn.lifting import lift as lift_step

PAPER = PAPER_OPTIONS
KAIMING = {"bands": "all", "init": "kaiming"}  # the paper's layer with the gradients stopped at P/U
HAAR = {"bands": "all", "init": "haar"}  # the former defaults
RUNS = {  # pool, pool options, optimiser
    "max": ("max", None, "adamw"),
    "lift_paper": ("lift", PAPER, "adamw"),
    "lift_kaiming": ("lift", KAIMING, "adamw"),
    "lift_haar_all": ("lift", HAAR, "adamw"),
    "lift": ("lift", {}, "adamw"),  # the defaults: the low band, max-lifting start, no tanh
    "max_sgd": ("max", None, "sgd"),
    "lift_paper_sgd": ("lift", PAPER, "sgd"),
    "lift_kaiming_sgd": ("lift", KAIMING, "sgd"),
    "lift_haar_all_sgd": ("lift", HAAR, "sgd"),
    "lift_sgd": ("lift", {}, "sgd"),
}
QUICKSTART_STEPS = 496  # the quickstart's one-cycle: 8 epochs x 62 steps
LAMBDA_U, LAMBDA_P = 0.01, 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--every", type=int, default=6, help="record every N steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train", type=int, default=4000, help="training images (the quickstart's 4000)")
    parser.add_argument("--output", default="runs/diagnostics")
    parser.add_argument("--force", action="store_true", help="retrain runs already in the CSV")
    return parser.parse_args(argv)


def _optimizer(name: str, model: nn.Module) -> tuple[torch.optim.Optimizer, object | None]:
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4), None
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.005, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.005, total_steps=QUICKSTART_STEPS)
    return optimizer, schedule


def _pools(model: nn.Module) -> list[tuple[nn.Module, nn.BatchNorm2d]]:
    """Each pool of the network's ``features`` with the BatchNorm two layers before it (conv-BN-ReLU-pool)."""
    layers = list(model.features)
    return [(layer, layers[i - 2]) for i, layer in enumerate(layers) if isinstance(layer, (nn.MaxPool2d,
            LiftDownPool2d))]  # fmt: skip


def _norm(gradient: Tensor | None) -> float:
    return 0.0 if gradient is None else gradient.norm().item()


def run(name: str, args: argparse.Namespace, loader: torch.utils.data.DataLoader) -> list[dict]:
    pool, options, optimiser = RUNS[name]
    torch.manual_seed(args.seed)
    model = create_network("small_vgg", num_classes=8, pool=pool, pool_options=options)
    optimizer, schedule = _optimizer(optimiser, model)
    pools = _pools(model)
    inputs: dict[int, Tensor] = {}
    for index, (layer, _) in enumerate(pools):
        layer.register_forward_hook(lambda module, args, output, index=index: inputs.__setitem__(index, args[0]))
    rows, step, start = [], 0, time.monotonic()
    for epoch in range(args.epochs):
        for images, targets in loader:
            logits = model(images)
            task = F.cross_entropy(logits, targets)
            lift = lifting_loss(model, LAMBDA_U, LAMBDA_P)
            if step % args.every == 0:
                row = {"run": name, "step": step, "epoch": epoch, "task_loss": task.item(),
                       "train_acc": (logits.argmax(1) == targets).float().mean().item() * 100}  # fmt: skip
                features = [inputs[i] for i in range(len(pools))]
                task_grads = torch.autograd.grad(task, features, retain_graph=True)
                norms = [p for _, norm in pools for p in (norm.weight, norm.bias)]
                bn_task = torch.autograd.grad(task, norms, retain_graph=True)
                lift_grads, bn_lift = [None] * len(features), [None] * len(norms)
                if lift.requires_grad:
                    found = torch.autograd.grad(lift, features + norms, retain_graph=True, allow_unused=True)
                    lift_grads, bn_lift = found[: len(features)], found[len(features) :]
                losses = list(lifting_losses(model).values())
                for i, (layer, norm) in enumerate(pools):
                    x = features[i].detach()
                    row[f"pool{i + 1}_feature_rms"] = x.pow(2).mean().sqrt().item()
                    row[f"pool{i + 1}_bn_gamma"] = norm.weight.detach().abs().mean().item()
                    row[f"pool{i + 1}_grad_task"] = _norm(task_grads[i])
                    row[f"pool{i + 1}_grad_lift"] = _norm(lift_grads[i])
                    row[f"pool{i + 1}_bn_grad_task"] = (
                        torch.cat([g.flatten() for g in bn_task[2 * i : 2 * i + 2]]).norm().item()
                    )
                    lifted = [g.flatten() for g in bn_lift[2 * i : 2 * i + 2] if g is not None]
                    row[f"pool{i + 1}_bn_grad_lift"] = torch.cat(lifted).norm().item() if lifted else 0.0
                    if losses:
                        row[f"pool{i + 1}_c_u"], row[f"pool{i + 1}_c_p"] = losses[i].c_u.item(), losses[i].c_p.item()
                        with torch.no_grad():
                            first = lift_step(x[..., : x.shape[-1] // 2 * 2], 3, layer.predict, layer.update, False)
                        odd_power = x[..., 1::2].pow(2).mean().item()
                        row[f"pool{i + 1}_p_error"] = first.high.pow(2).mean().item() / max(odd_power, 1e-12)
                rows.append(row)
            optimizer.zero_grad(set_to_none=True)
            (task + lift).backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            step += 1
    print(f"{name}: {step} steps in {time.monotonic() - start:.0f} s", flush=True)
    return rows


def _window_accuracy(rows: list[dict], name: str, epoch: int) -> float:
    values = [r["train_acc"] for r in rows if r["run"] == name and r["epoch"] == epoch]
    return statistics.fmean(values) if values else float("nan")


def summarise(rows: list[dict], names: list[str], epochs: int, output: Path, seed: int = 0) -> None:
    steps = sorted({r["step"] for r in rows})
    picks = [s for s in (0, 24, 60, 120, 180) if s in steps] or steps[:1]
    lines = [
        f"Quickstart model (small_vgg, synthetic shapes, batch 64), seed {seed}, epochs: {epochs}; pool k = the k-th"
        " pool layer.",
        "",
        "| run | step | train acc (batch) | feature RMS pool1/2/3 | BN gamma pool1/2/3 | "
        "grad lift / grad task at pool1/2/3 | same at the BN's weight+bias | P error mean(d^2)/mean(x_o^2) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for step in picks:
            row = next((r for r in rows if r["run"] == name and r["step"] == step), None)
            if row is None:
                continue

            def triple(key: str, row: dict = row) -> str:
                return " / ".join(f"{row[f'pool{i}_{key}']:.2g}" if f"pool{i}_{key}" in row else "-" for i in (1, 2, 3))

            def ratio(prefix: str, row: dict = row) -> str:
                return " / ".join(
                    f"{row[f'pool{i}_{prefix}lift'] / max(row[f'pool{i}_{prefix}task'], 1e-30):.2g}" for i in (1, 2, 3)
                )

            cells = [f"{row['train_acc']:.0f}%", triple("feature_rms"), triple("bn_gamma"), ratio("grad_"),
                     ratio("bn_grad_"), triple("p_error")]  # fmt: skip
            lines.append(f"| {name} | {step} | " + " | ".join(cells) + " |")
    lines += ["", "Mean training accuracy over each epoch's recorded batches:", "",
              "| run | " + " | ".join(f"epoch {e + 1}" for e in range(epochs)) + " |",
              "|---|" + "---|" * epochs]  # fmt: skip
    for name in names:
        accuracies = " | ".join(f"{_window_accuracy(rows, name, e):.0f}%" for e in range(epochs))
        lines.append(f"| {name} | {accuracies} |")
    (output / "diagnostics.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def plot(rows: list[dict], names: list[str], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("train_acc", "train accuracy, batch (%)", False), ("pool1_feature_rms", "pool1 input RMS", True),
              ("pool1_bn_gamma", "pool1 BatchNorm mean |gamma|", True),
              ("pool1_ratio", "pool1 BatchNorm: |grad lift| / |grad task|", True)]  # fmt: skip
    colours = {name: f"C{i}" for i, name in enumerate(names)}
    figure, axes = plt.subplots(1, len(panels), figsize=(16, 3.8))
    for axis, (key, title, log) in zip(axes, panels, strict=True):
        for name in names:
            mine = [r for r in rows if r["run"] == name]
            if key == "pool1_ratio":
                values = [r["pool1_bn_grad_lift"] / max(r["pool1_bn_grad_task"], 1e-30) for r in mine]
                if not any(values):
                    continue
            else:
                values = [r[key] for r in mine]
            axis.plot([r["step"] for r in mine], values, label=name, color=colours[name], linewidth=1.2)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("step")
        if log:
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(output / "diagnostics.png", dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    data = SyntheticShapesDataModule(num_train=args.num_train, num_val=1000, batch_size=64, num_workers=0,
                                     pin_memory=False)  # fmt: skip
    data.setup("fit")
    rows: list[dict] = []
    path = output / "diagnostics.csv"
    if path.is_file() and not args.force:
        with path.open() as handle:
            rows = [{k: (v if k == "run" else float(v)) for k, v in row.items() if v != ""}
                    for row in csv.DictReader(handle)]  # fmt: skip
        rows = [row for row in rows if row["run"] in args.runs]
    for name in args.runs:
        if any(row["run"] == name for row in rows):
            print(f"{name}: kept from {path}", flush=True)
            continue
        torch.manual_seed(args.seed)
        loader = data.train_dataloader()
        rows += run(name, args, loader)
    rows.sort(key=lambda row: (args.runs.index(row["run"]), row["step"]))
    columns = sorted({key for row in rows for key in row}, key=lambda k: (k not in ("run", "step", "epoch"), k))
    with (output / "diagnostics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    summarise(rows, args.runs, args.epochs, output, args.seed)
    plot(rows, args.runs, output)
    print(f"wrote {output}/diagnostics.csv, .md, .png", flush=True)


if __name__ == "__main__":
    main()
