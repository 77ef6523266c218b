"""Share and load LiftPool networks by name: a folder (or Hugging Face Hub repository) holding the weights, the
config that rebuilds the network, and a model card; and ``liftpool bundle``, which writes one from a checkpoint.

A bundle is three files (four when the training config is known)::

    model.safetensors      the network's state dict (safetensors: no pickled code runs on loading)
    config.json            what ``create_network`` needs to rebuild the network: network, num_classes, pool,
                           pool_options, up_pool, strided_convs, input_size, network_options (+ package version)
    README.md              the model card: network, pool, options, data, metrics, the command that trained it
    training_config.yaml   the run's resolved config, as ``liftpool fit`` saved it (config.yaml in its log folder)

``from_pretrained("user/repo")`` or ``from_pretrained("path/to/folder")`` rebuilds the network with
``create_network`` and loads the weights strictly; ``push_to_hub(folder_or_model, "user/repo")`` uploads a bundle.
The Hub part needs ``huggingface_hub`` and ``safetensors``: ``pip install 'liftpool-lightning[hub]'``.
"""

from __future__ import annotations

import csv
import importlib
import json
import logging
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from liftpool_lightning import __version__

log = logging.getLogger(__name__)

EXTRA_HINT = "pip install 'liftpool-lightning[hub]'"
LIBRARY_NAME = "liftpool-lightning"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
TRAINING_CONFIG_NAME = "training_config.yaml"
#: The files of a bundle: what ``push_to_hub`` uploads from a folder (nothing else in it is sent).
BUNDLE_FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, TRAINING_CONFIG_NAME)
#: config.json keys that ``create_network`` takes (``network_options`` go to the network's constructor).
NETWORK_KEYS = ("network", "num_classes", "pool", "pool_options", "up_pool", "strided_convs", "input_size")
CONFIG_KEYS = (*NETWORK_KEYS, "network_options")
PAPER_URL = "https://openreview.net/forum?id=kE3vd639uRW"
_USAGE_COMMENT = "  # the network in eval mode; a local folder works too"
_USAGE_LINE = re.compile(r'^model = from_pretrained\(".*"\)' + re.escape(_USAGE_COMMENT) + "$", re.MULTILINE)
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _require(name: str, purpose: str) -> ModuleType:
    """Import ``name``, or raise ImportError naming the ``[hub]`` extra."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(f"{purpose} needs the '{name}' package: {EXTRA_HINT}") from error


# --------------------------------------------------------------------------------------------------- config


def network_config(
    network: str,
    num_classes: int,
    pool: str | None = None,
    pool_options: Mapping[str, Any] | None = None,
    up_pool: str | None = None,
    strided_convs: bool | None = None,
    input_size: int | None = None,
    network_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config.json content that rebuilds a network with ``create_network``: defaults that depend on the network
    (``strided_convs``, ``input_size``) resolved, a LiftPool's every option recorded with this version's defaults
    (``full_pool_options``: a later version with other defaults rebuilds the same layers), everything checked to be
    JSON (a pool given as a class cannot be saved by name)."""
    from liftpool_lightning.models.registry import network_spec
    from liftpool_lightning.surgery.factory import full_pool_options

    if not isinstance(network, str):
        raise TypeError(f"network must be a registered network name to be saved, got {type(network).__name__}")
    spec = network_spec(network)
    if pool is not None and not isinstance(pool, str):
        raise TypeError(f"pool must be a pool name (e.g. 'lift') to be saved, got {type(pool).__name__}")
    config = {
        "network": network,
        "task": spec.task,
        "num_classes": int(num_classes),
        "pool": pool,
        "pool_options": full_pool_options(pool, dict(pool_options) if pool_options else None),
        "up_pool": up_pool,
        "strided_convs": spec.downsamples_by_stride if strided_convs is None else bool(strided_convs),
        "input_size": int(input_size or spec.input_size),
        "network_options": dict(network_options) if network_options else None,
        "library_name": LIBRARY_NAME,
        "library_version": __version__,
    }
    try:
        json.dumps(config)
    except TypeError as error:
        raise TypeError(f"the network config must be JSON (names, numbers, lists, mappings): {error}") from None
    return config


def create_model(
    network: str,
    num_classes: int,
    pool: str | None = None,
    pool_options: Mapping[str, Any] | None = None,
    up_pool: str | None = None,
    strided_convs: bool | None = None,
    input_size: int | None = None,
    weights: str | None = None,
    network_options: Mapping[str, Any] | None = None,
) -> nn.Module:
    """``create_network`` that keeps its config on the model (``model.liftpool_config``), so ``save_pretrained`` and
    ``push_to_hub`` need nothing else. ``weights``: torchvision's weights for the network (or its backbone) before
    the pooling is swapped; not part of the config (a saved bundle holds the weights themselves)."""
    from liftpool_lightning.models.registry import create_network

    config = network_config(network, num_classes, pool, pool_options, up_pool, strided_convs, input_size,
                            network_options)  # fmt: skip
    model = create_network(
        network,
        num_classes=config["num_classes"],
        pool=pool,
        pool_options=config["pool_options"],
        up_pool=up_pool,
        strided_convs=config["strided_convs"],
        weights=weights,
        input_size=config["input_size"],
        **(config["network_options"] or {}),
    )
    model.liftpool_config = config
    return model


def resolved_config(model_or_task: nn.Module, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config of a task (its hyperparameters), of a model from ``create_model`` / ``from_pretrained`` / the
    ``torch.hub`` entry points (``model.liftpool_config``), or ``config`` given for any other network."""
    if config is None:
        hparams = getattr(model_or_task, "hparams", None)
        if isinstance(hparams, Mapping) and isinstance(hparams.get("network"), str):
            config = {key: hparams.get(key) for key in NETWORK_KEYS}
        else:
            config = getattr(model_or_task, "liftpool_config", None)
    if config is None:
        raise ValueError(
            "cannot tell how to rebuild this network: give config={'network': ..., 'num_classes': ..., 'pool': ...}, "
            "or save a task, or a model from liftpool_lightning.hub.create_model / from_pretrained"
        )
    unknown = sorted(set(config) - set(CONFIG_KEYS) - {"task", "library_name", "library_version"})
    if unknown:
        raise ValueError(f"config: unknown keys {', '.join(unknown)}; allowed: {', '.join(CONFIG_KEYS)}")
    if "network" not in config or "num_classes" not in config:
        raise ValueError("config needs 'network' and 'num_classes'")
    return network_config(**{key: config.get(key) for key in CONFIG_KEYS})


def _network_of(model_or_task: nn.Module) -> nn.Module:
    network = getattr(model_or_task, "network", None)
    hparams = getattr(model_or_task, "hparams", None)
    if isinstance(network, nn.Module) and isinstance(hparams, Mapping):  # a task: its network is what is shared
        return network
    if not isinstance(model_or_task, nn.Module):
        raise TypeError(f"expected a network or a task (nn.Module), got {type(model_or_task).__name__}")
    return model_or_task


# --------------------------------------------------------------------------------------------------- saving


def save_pretrained(
    model_or_task: nn.Module,
    folder: str | Path,
    *,
    config: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write ``model.safetensors``, ``config.json`` and a ``README.md`` model card to ``folder`` (created; files of
    these names in it are replaced).

    Args:
        model_or_task: a task (its network is saved), or a network from ``create_model`` / ``from_pretrained``, or
            any registered network together with ``config``.
        config: the network config (see :func:`network_config`) when the model does not carry one.
        training: what the card says about training (see :func:`training_record`): data, metrics, command.
        repo_id: the Hub repository the card's usage example loads from (default: the folder's path;
            ``push_to_hub`` puts in the repository it uploads to).
    Returns:
        the folder.
    """
    safetensors_torch = _require("safetensors.torch", "saving a bundle")
    resolved = resolved_config(model_or_task, config)
    network = _network_of(model_or_task)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output {folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    # a copy of each tensor: safetensors refuses tensors sharing memory, and it needs them contiguous on the CPU
    state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in network.state_dict().items()}
    metadata = {"format": "pt", "library": LIBRARY_NAME, "network": resolved["network"], "version": __version__}
    safetensors_torch.save_file(state, str(folder / WEIGHTS_NAME), metadata=metadata)
    (folder / CONFIG_NAME).write_text(json.dumps(resolved, indent=2) + "\n", encoding="utf-8")
    config_text = (training or {}).get("config_text")
    if config_text:
        (folder / TRAINING_CONFIG_NAME).write_text(config_text, encoding="utf-8")
    parameters = sum(tensor.numel() for tensor in network.parameters())
    card = model_card(resolved, training, repo_id or str(folder), parameters, _lift_layer_count(network))
    (folder / CARD_NAME).write_text(card, encoding="utf-8")
    return folder


def _lift_layer_count(network: nn.Module) -> tuple[int, int]:
    from liftpool_lightning.nn import LiftDownPoolNd, LiftUpPoolNd

    modules = list(network.modules())
    return sum(isinstance(m, LiftDownPoolNd) for m in modules), sum(isinstance(m, LiftUpPoolNd) for m in modules)


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
        f'model = from_pretrained("{repo_id}"){_USAGE_COMMENT}',
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


# --------------------------------------------------------------------------------------------------- checkpoints


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


def bundle_checkpoint(
    ckpt_path: str | Path,
    output: str | Path,
    *,
    training_config: str | Path | None = None,
    overwrite: bool = False,
    repo_id: str | None = None,
) -> Path:
    """Write the bundle of a ``liftpool fit`` checkpoint to ``output``: its network's weights, config and a model card
    from the run (the run's config.yaml and metrics.csv are found next to the checkpoint or one folder up, or give
    ``training_config``). ``output`` must be empty or absent unless ``overwrite``."""
    from liftpool_lightning.checkpointing import check_checkpoint_file
    from liftpool_lightning.visualize import load_task

    _require("safetensors", "liftpool bundle")
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"output {output} is a file, not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"output {output} is not empty; give another folder, or --overwrite to write into it")
    checkpoint = check_checkpoint_file(ckpt_path)  # one-line errors for missing, truncated or foreign files
    training = training_record(ckpt_path, checkpoint, training_config)
    task = load_task(ckpt_path)  # the same loading as `liftpool export` and `liftpool visualize`
    return save_pretrained(task, output, training=training, repo_id=repo_id)


# --------------------------------------------------------------------------------------------------- loading


def _download(repo_id: str, filename: str, **hub_options: Any) -> Path:
    hub = _require("huggingface_hub", f"loading {repo_id!r} from the Hugging Face Hub")
    try:
        return Path(hub.hf_hub_download(repo_id, filename, library_name=LIBRARY_NAME, library_version=__version__,
                                        **hub_options))  # fmt: skip
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OSError(
            f"{repo_id} is not a folder here, and {filename} could not be downloaded from the Hugging Face Hub repo "
            f"{repo_id}: {reason}"
        ) from error


def _bundle_files(name_or_path: str | Path, hub_options: Mapping[str, Any]) -> tuple[Path, Path]:
    """(config.json, model.safetensors) of a local folder, or downloaded from the Hub repo ``name_or_path``."""
    path = Path(name_or_path)
    if path.is_dir():
        config, weights = path / CONFIG_NAME, path / WEIGHTS_NAME
        for file in (config, weights):
            if not file.is_file():
                raise FileNotFoundError(
                    f"{path} has no {file.name}: not a bundle written by save_pretrained or liftpool bundle"
                )
        return config, weights
    if path.exists():
        raise ValueError(f"{path} is a file; give the bundle's folder (or a Hub repo id)")
    if not _REPO_ID.match(str(name_or_path)):
        raise FileNotFoundError(f"{name_or_path} is neither a folder nor a Hugging Face Hub repo id (user/name)")
    repo_id = str(name_or_path)
    return _download(repo_id, CONFIG_NAME, **hub_options), _download(repo_id, WEIGHTS_NAME, **hub_options)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(config, dict) or "network" not in config:
        raise ValueError(f"{path} is not a {LIBRARY_NAME} config (no 'network' entry)")
    if config.get("library_name", LIBRARY_NAME) != LIBRARY_NAME:
        raise ValueError(f"{path} belongs to {config['library_name']!r}, not {LIBRARY_NAME}")
    return config


def load_config(
    name_or_path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> dict[str, Any]:
    """The config.json of a bundle (local folder or Hub repo) without loading its weights."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"{path} has no {CONFIG_NAME}: not a bundle written by save_pretrained")
        return _read_config(path / CONFIG_NAME)
    options = {"revision": revision, "cache_dir": cache_dir, "token": token, "local_files_only": local_files_only}
    return _read_config(_download(str(name_or_path), CONFIG_NAME, **options))


def _mismatch(loaded: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> list[str]:
    """Differences between the file's tensors and the network's, each with up to three examples."""

    def some(names: list[str]) -> str:
        return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")

    missing = [name for name in expected if name not in loaded]
    unexpected = [name for name in loaded if name not in expected]
    shapes = [
        f"{name}: file {tuple(loaded[name].shape)} vs network {tuple(expected[name].shape)}"
        for name in expected
        if name in loaded and loaded[name].shape != expected[name].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing from the file ({some(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} not in the network ({some(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} of another shape ({some(shapes)})")
    return problems


def from_pretrained(
    name_or_path: str | Path,
    *,
    strict: bool = True,
    device: torch.device | str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    **overrides: Any,
) -> nn.Module:
    """The network of a bundle, in eval mode: rebuilt from its config.json with ``create_network``, weights loaded.

    Args:
        name_or_path: a folder written by :func:`save_pretrained` / ``liftpool bundle``, or a Hugging Face Hub
            repo id (``user/name``; downloaded into the Hub cache, needs the ``[hub]`` extra).
        strict: every tensor of the file must fit the network (else ValueError naming the differences); False
            loads the tensors whose names and shapes match and leaves the rest as built (e.g. a new classifier
            for another ``num_classes``), logging what was left.
        device: where the network goes (default CPU).
        revision, cache_dir, token, local_files_only, force_download: as in ``huggingface_hub.hf_hub_download``.
        **overrides: config entries to change (``num_classes``, ``pool_options``, ...; see ``CONFIG_KEYS``).
    """
    unknown = sorted(set(overrides) - set(CONFIG_KEYS))
    if unknown:
        raise TypeError(
            f"from_pretrained: unknown options {', '.join(unknown)}; config entries: {', '.join(CONFIG_KEYS)}"
        )
    safetensors_torch = _require("safetensors.torch", "from_pretrained")
    hub_options = {"revision": revision, "cache_dir": cache_dir, "token": token, "local_files_only": local_files_only,
                   "force_download": force_download}  # fmt: skip
    config_path, weights_path = _bundle_files(name_or_path, hub_options)
    config = _read_config(config_path)
    saved_version = config.get("library_version")
    if saved_version and saved_version != __version__:
        log.warning(
            "%s was saved by %s %s (this is %s): pool options it did not set take this version's defaults",
            name_or_path, LIBRARY_NAME, saved_version, __version__,
        )  # fmt: skip
    config.update(overrides)
    model = create_model(**{key: config.get(key) for key in CONFIG_KEYS})
    try:
        state = safetensors_torch.load_file(str(weights_path), device="cpu")
    except Exception as error:
        raise ValueError(f"{weights_path} is not a readable safetensors file: {error}") from None
    expected = model.state_dict()
    problems = _mismatch(state, expected)
    if problems and strict:
        raise ValueError(
            f"the weights of {name_or_path} do not fit the network its config builds ({config['network']}, pool "
            f"{config.get('pool')!r}): " + "; ".join(problems) + ". Pass strict=False to load only the matching tensors"
        )
    if problems:
        log.warning("from_pretrained(%s, strict=False): %s", name_or_path, "; ".join(problems))
        state = {k: v for k, v in state.items() if k in expected and v.shape == expected[k].shape}
    model.load_state_dict(state, strict=strict)
    return model.to(device or "cpu").eval()


# --------------------------------------------------------------------------------------------------- pushing


def push_to_hub(
    folder_or_model: str | Path | nn.Module,
    repo_id: str,
    *,
    config: Mapping[str, Any] | None = None,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str = "Upload LiftPool model",
    revision: str | None = None,
    create_pr: bool = False,
) -> str:
    """Upload a bundle to the Hugging Face Hub repo ``repo_id`` (created if absent) and return the commit's URL.

    ``folder_or_model``: a folder written by :func:`save_pretrained` / ``liftpool bundle`` (only the bundle's files
    in it are sent; the generated card's usage example is pointed at ``repo_id``), or a task / network, saved to a
    temporary folder first (``config`` as in ``save_pretrained``).
    ``private``: a new repository's visibility (None: the Hub's default). ``token``: None uses the login
    (``hf auth login`` or ``HF_TOKEN``).
    """
    hub = _require("huggingface_hub", "push_to_hub")
    if not _REPO_ID.match(repo_id) or "/" not in repo_id:
        raise ValueError(f"repo_id must look like user/name, got {repo_id!r}")
    if isinstance(folder_or_model, (str, Path)):
        return _upload(hub, Path(folder_or_model), repo_id, private, token, commit_message, revision, create_pr)
    with tempfile.TemporaryDirectory(prefix="liftpool-bundle-") as temporary:
        save_pretrained(folder_or_model, temporary, config=config, repo_id=repo_id)
        return _upload(hub, Path(temporary), repo_id, private, token, commit_message, revision, create_pr)


def _upload(
    hub: ModuleType,
    folder: Path,
    repo_id: str,
    private: bool | None,
    token: str | bool | None,
    commit_message: str,
    revision: str | None,
    create_pr: bool,
) -> str:
    if not folder.is_dir():
        raise FileNotFoundError(f"bundle folder {folder} does not exist")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} has no {name}: write it with liftpool bundle or save_pretrained first")
    _read_config(folder / CONFIG_NAME)
    card = folder / CARD_NAME
    if card.is_file():  # the generated card's usage example loads from the repository it is uploaded to
        text = card.read_text(encoding="utf-8")
        updated = _USAGE_LINE.sub(f'model = from_pretrained("{repo_id}"){_USAGE_COMMENT}', text)
        if updated != text:
            card.write_text(updated, encoding="utf-8")
    api = hub.HfApi(token=token, library_name=LIBRARY_NAME, library_version=__version__)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type="model",
        commit_message=commit_message,
        revision=revision,
        create_pr=create_pr,
        allow_patterns=[name for name in BUNDLE_FILES if (folder / name).is_file()],
    )
    return str(getattr(info, "commit_url", None) or getattr(info, "pr_url", None) or info)


# --------------------------------------------------------------------------------------------------- command


def main(args: list[str]) -> int:
    """``liftpool bundle --ckpt_path CKPT --output DIR [--config RUN.yaml] [--overwrite] [--push-to-hub REPO_ID]
    [--private]``: write the bundle (and upload it) and print where."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="liftpool bundle",
        description="Turn a liftpool fit checkpoint into a shareable folder: model.safetensors, config.json, a model "
        "card (README.md) and the run's config; optionally upload it to the Hugging Face Hub.",
        allow_abbrev=False,
    )
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by liftpool fit")
    parser.add_argument("--output", required=True, help="the folder to write (absent or empty unless --overwrite)")
    parser.add_argument("--config", help="the run's config.yaml (default: found next to the checkpoint or one up)")
    parser.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="then upload to this Hub repo (user/name)")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    options = parser.parse_args(args)
    if options.private and not options.push_to_hub:
        parser.error("--private needs --push-to-hub REPO_ID")
    if options.push_to_hub:
        _require("huggingface_hub", "--push-to-hub")
        if not _REPO_ID.match(options.push_to_hub) or "/" not in options.push_to_hub:
            raise ValueError(f"--push-to-hub must look like user/name, got {options.push_to_hub!r}")
    folder = bundle_checkpoint(options.ckpt_path, options.output, training_config=options.config,
                               overwrite=options.overwrite, repo_id=options.push_to_hub)  # fmt: skip
    written = ", ".join(name for name in BUNDLE_FILES if (folder / name).is_file())
    print(f"wrote {folder} ({written})")
    if options.push_to_hub:
        url = push_to_hub(folder, options.push_to_hub, private=options.private or None,
                          commit_message=f"Upload {Path(options.ckpt_path).name} with liftpool bundle")  # fmt: skip
        print(f"uploaded to {options.push_to_hub}: {url}")
    return 0
