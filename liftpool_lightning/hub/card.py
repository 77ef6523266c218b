"""The model card (a bundle's README.md), and what a checkpoint and its run's log folder say about training."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from liftpool_lightning import __version__
from liftpool_lightning.hub.config import LIBRARY_NAME
from liftpool_lightning.hub.extra import EXTRA_HINT
from liftpool_lightning.hub.files import TRAINING_CONFIG_NAME

PAPER_URL = "https://openreview.net/forum?id=kE3vd639uRW"
_USAGE_COMMENT = "  # the network in eval mode; a local folder works too"
_USAGE_LINE = re.compile(r'^model = from_pretrained\(".*"\)' + re.escape(_USAGE_COMMENT) + "$", re.MULTILINE)


def _usage_line(repo_id: str) -> str:
    return f'model = from_pretrained("{repo_id}"){_USAGE_COMMENT}'


def point_usage_at(card: str, repo_id: str) -> str:
    """``card`` with its generated usage example loading from ``repo_id`` (any other text unchanged)."""
    return _USAGE_LINE.sub(_usage_line(repo_id), card)


def _code(value: Any) -> str:
    return "—" if value is None else f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def model_card(
    config: Mapping[str, Any],
    training: Mapping[str, Any] | None = None,
    repo_id: str = "REPO_ID",
    parameters: int | None = None,
    lift_layers: tuple[int, int] | None = None,
) -> str:
    """The README.md of a bundle: Hub metadata, then the network, how to load it, how it was trained, its metrics."""
    import yaml

    training = training or {}
    task = config.get("task", "classification")
    pipeline = "image-segmentation" if task == "segmentation" else "image-classification"
    metadata = {
        "library_name": LIBRARY_NAME,
        "pipeline_tag": pipeline,
        "tags": ["liftpool", "pooling", "lifting-scheme", pipeline, "pytorch", "safetensors"],
    }
    pool = config.get("pool") or "the network's own"
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {config['network']} with {pool} pooling",
        "",
        f"A `{config['network']}` ({task}, {config['num_classes']} classes) whose pooling is LiftPool's "
        f"`{config.get('pool')}` ([LiftPool: Bidirectional ConvNet Pooling, Zhao & Snoek, ICLR 2021]({PAPER_URL})), "
        f"saved by {LIBRARY_NAME} {config.get('library_version', __version__)}.",
        "",
        "## Network",
        "",
        "| | |",
        "|---|---|",
        f"| network | {_code(config['network'])} |",
        f"| task | {task} |",
        f"| classes | {config['num_classes']} |",
        f"| pool | {_code(config.get('pool'))} |",
        f"| pool options | {_code(config.get('pool_options') or {})} (others: the layer's defaults) |",
        f"| up pool | {_code(config.get('up_pool'))} |",
        f"| strided convolutions swapped | {'yes' if config.get('strided_convs') else 'no'} |",
        f"| input size of the surgery's dry run | {config.get('input_size')} |",
        f"| network options | {_code(config.get('network_options') or {})} |",
    ]
    if parameters is not None:
        lines.append(f"| parameters | {parameters:,} |")
    if lift_layers is not None:
        lines.append(f"| LiftDownPool / LiftUpPool layers | {lift_layers[0]} / {lift_layers[1]} |")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        f"# {EXTRA_HINT}",
        "from liftpool_lightning.hub import from_pretrained",
        "",
        _usage_line(repo_id),
        "```",
        "",
        "The files: `model.safetensors` (weights), `config.json` (what `create_network` needs to rebuild the network),"
        + (" `training_config.yaml` (the run's resolved config)," if training.get("config_text") else "")
        + " this card.",
    ]
    lines += _training_section(training)
    lines += _metrics_section(training)
    return "\n".join(lines) + "\n"


def _training_section(training: Mapping[str, Any]) -> list[str]:
    if not training:
        return ["", "## Training", "", "Not recorded: this bundle was saved from Python, not from a checkpoint."]
    lines = ["", "## Training", ""]
    data = training.get("data")
    if data:
        lines.append(f"- data: `{data.get('class_path')}` with {_code(data.get('init_args') or {})}")
    else:
        lines.append("- data: not recorded (no training config found next to the checkpoint)")
    hparams = training.get("hyper_parameters") or {}
    losses = ", ".join(f"{key} {hparams[key]}" for key in ("lambda_u", "lambda_p", "label_smoothing") if key in hparams)
    if losses:
        lines.append(f"- losses: {losses}")
    start = hparams.get("weights") or hparams.get("backbone_checkpoint")
    lines.append(f"- started from: {_code(start) if start else 'random initialisation'}")
    if "checkpoint" in training:
        lines.append(
            f"- checkpoint: `{training['checkpoint']}` (epoch {training.get('epoch')}, "
            f"step {training.get('global_step')}, Lightning {training.get('lightning_version')})"
        )
    command = training.get("command")
    if command:
        lines += ["- command:", "", "```bash", command, "```", ""]
        if training.get("config_text"):
            lines.append(
                f"`{TRAINING_CONFIG_NAME}` is the run's resolved config, saved by `liftpool fit` as `config.yaml` "
                f"in its log folder (from `{training.get('config_source')}`)."
            )
    return lines


def _metrics_section(training: Mapping[str, Any]) -> list[str]:
    metrics = training.get("metrics") or {}
    monitored = training.get("monitored") or []
    if not metrics and not monitored:
        return ["", "## Metrics", "", "None recorded."] if training else []
    lines = ["", "## Metrics", ""]
    if metrics:
        lines += [
            f"Logged at the checkpoint's epoch ({training.get('epoch')}), from `{training.get('metrics_source')}`:",
            "",
            "| metric | value |",
            "|---|---|",
            *(f"| {name} | {value:.4g} |" for name, value in metrics.items()),
            "",
        ]
    for entry in monitored:
        which = "this checkpoint" if entry.get("is_this_checkpoint") else f"`{entry.get('best_checkpoint')}`"
        lines.append(
            f"- best {entry['monitor']} ({entry['mode']}) of the run when the checkpoint was written: "
            f"{entry['best_score']:.4g} ({which})"
        )
    return lines


# ------------------------------------------------------------------------------------------ the training record


def _run_config(ckpt_path: Path) -> Path | None:
    """The config.yaml ``liftpool fit`` saved in the run's log folder: next to the checkpoint or one level up
    (``<log dir>/checkpoints/*.ckpt``)."""
    for folder in (ckpt_path.parent, ckpt_path.parent.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return None


def _logged_metrics(metrics_csv: Path, epoch: int) -> dict[str, float]:
    """The last value of each val/ and test/ metric logged in ``epoch`` (a CSVLogger's metrics.csv)."""
    found: dict[str, float] = {}
    with metrics_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("epoch") not in (str(epoch), f"{epoch}.0"):
                continue
            for name, value in row.items():
                if name and name.startswith(("val/", "test/")) and value not in (None, ""):
                    try:
                        found[name] = float(value)
                    except ValueError:
                        continue
    return dict(sorted(found.items()))


def training_record(
    ckpt_path: str | Path, checkpoint: Mapping[str, Any], training_config: str | Path | None = None
) -> dict[str, Any]:
    """What a checkpoint (and its run's log folder) says about training, for the model card: hyperparameters, data
    module and its options, epoch, monitored best scores, metrics logged at that epoch, the command and config."""
    import yaml

    path = Path(ckpt_path)
    epoch = int(checkpoint.get("epoch", 0))
    record: dict[str, Any] = {
        "checkpoint": path.name,
        "epoch": epoch,
        "global_step": int(checkpoint.get("global_step", 0)),
        "lightning_version": checkpoint.get("pytorch-lightning_version"),
        "hyper_parameters": {
            key: value
            for key, value in (checkpoint.get("hyper_parameters") or {}).items()
            if not key.startswith("_") and isinstance(value, (str, int, float, bool, type(None), list, dict))
        },
    }
    monitored = []
    for name, state in (checkpoint.get("callbacks") or {}).items():
        if not str(name).startswith("ModelCheckpoint") or not isinstance(state, Mapping):
            continue
        score = state.get("best_model_score")
        if state.get("monitor") is None or score is None:
            continue
        best = Path(str(state.get("best_model_path") or ""))
        mode = re.search(r"'mode': '(\w+)'", str(name))
        monitored.append({
            "monitor": state["monitor"],
            "mode": mode.group(1) if mode else "?",
            "best_score": float(score),
            "best_checkpoint": best.name,
            "is_this_checkpoint": best.name == path.name,
        })  # fmt: skip
    record["monitored"] = monitored
    config_path = Path(training_config) if training_config is not None else _run_config(path)
    if config_path is not None:
        if not config_path.is_file():
            raise FileNotFoundError(f"training config {config_path} does not exist")
        text = config_path.read_text(encoding="utf-8")
        try:
            parsed = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"training config {config_path} is not valid YAML: {error}") from None
        record["config_text"] = text
        record["config_source"] = str(config_path)
        record["command"] = f"liftpool fit --config {TRAINING_CONFIG_NAME}"
        data = parsed.get("data") if isinstance(parsed, dict) else None
        if isinstance(data, dict):
            record["data"] = {"class_path": data.get("class_path"), "init_args": data.get("init_args") or {}}
        metrics_csv = config_path.parent / "metrics.csv"
        if metrics_csv.is_file():
            record["metrics"] = _logged_metrics(metrics_csv, epoch)
            record["metrics_source"] = metrics_csv.name
    return record
