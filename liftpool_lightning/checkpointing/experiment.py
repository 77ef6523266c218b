"""Which experiment a checkpoint belongs to: its model options (the task's saved hyperparameters) and its identity
(seed, model and data options, written into every checkpoint of ``liftpool fit``) compared with the ones a command
gives (config files + command line), so ``--ckpt_path`` never swaps the model silently and ``--ckpt_path last`` only
resumes the same experiment."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: Saved hyperparameters that are bookkeeping, not model options.
_NOT_OPTIONS = ("_class_path", "_instantiator")

#: Task options added after checkpoints were first written, with the value that gives the former behaviour: a
#: checkpoint of a task with the option but without its value was trained with that value.
ADDED_MODEL_OPTIONS: dict[str, Any] = {"pool_lr_scale": 1.0}


def _plain(value: Any) -> Any:
    """Namespaces and mappings as dicts, tuples as lists, recursively (jsonargparse and YAML spell them apart)."""
    if hasattr(value, "as_dict") and callable(value.as_dict):
        value = value.as_dict()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _short(class_path: str | None) -> str | None:
    return class_path.rsplit(".", 1)[-1] if class_path else class_path


def model_differences(given: Any, saved: Mapping[str, Any], linked: Iterable[str] = ()) -> list[str]:
    """``option: checkpoint A, given B`` for the task class and every saved model option the command gives
    differently. ``given`` is the parsed ``model`` entry (``class_path`` and ``init_args``); ``saved`` is the
    checkpoint's ``hyper_parameters``. Options the command does not have and the ``linked`` ones (set from the data
    when the model is built, e.g. ``num_classes``; the task checks those against the checkpoint) are not compared; an
    option of ``ADDED_MODEL_OPTIONS`` that the checkpoint lacks counts as its former value."""
    given = _plain(given) or {}
    saved = _plain(saved) or {}
    differences = []
    saved_class, given_class = saved.get("_class_path"), given.get("class_path")
    if saved_class and given_class and _short(saved_class) != _short(given_class):
        differences.append(f"model class: checkpoint {_short(saved_class)}, given {_short(given_class)}")
    init_args = given.get("init_args") or {}
    saved = {**{key: value for key, value in ADDED_MODEL_OPTIONS.items() if key in init_args}, **saved}
    for key, value in saved.items():
        if key in _NOT_OPTIONS or key in linked or key not in init_args:
            continue
        if init_args[key] != value:
            differences.append(f"{key}: checkpoint {value!r}, given {init_args[key]!r}")
    return differences


def candidate_roots(default_root_dir: str | None, logger_save_dirs: Iterable[str]) -> list[Path]:
    """Where ``last`` looks: ``default_root_dir`` (else the working directory) and every logger's ``save_dir``
    (checkpoints go under the logger's folder when there is one), without duplicates or nested repeats."""
    roots: list[Path] = []
    for path in [default_root_dir or ".", *logger_save_dirs]:
        root = Path(path).resolve()
        if not any(root == seen or seen in root.parents for seen in roots):
            roots = [seen for seen in roots if root not in seen.parents] + [root]
    return roots


#: Where a checkpoint written by ``liftpool fit`` keeps its experiment's identity (``experiment_identity``).
CHECKPOINT_KEY = "liftpool_experiment"

#: Data options that may change when a run is resumed (where the files are, how they are loaded), not what is learnt.
RESUMABLE_DATA_OPTIONS = ("root", "download", "num_workers", "pin_memory", "persistent_workers", "prefetch_factor")


def experiment_identity(config: Mapping[str, Any] | Any) -> dict[str, Any]:
    """What defines an experiment in a subcommand's resolved config: the seed, the model and the data options (those
    in ``RESUMABLE_DATA_OPTIONS`` left out), as plain JSON values. The trainer's options (epochs, devices, loggers,
    callbacks, folders) may change on resume and are not part of it."""
    config = _plain(config) or {}
    data = dict(config.get("data") or {})
    if isinstance(data.get("init_args"), Mapping):
        data["init_args"] = {k: v for k, v in data["init_args"].items() if k not in RESUMABLE_DATA_OPTIONS}
    identity = {"seed_everything": config.get("seed_everything"), "model": config.get("model"), "data": data}
    return json.loads(json.dumps(identity, default=str))  # plain values: a weights_only load reads them


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def identity_differences(saved: Mapping[str, Any], given: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
    """``option: checkpoint A, given B`` for every option of two experiment identities that differs (``init_args``
    left out of the names), except those under the ``skip`` prefixes (e.g. ``model`` with ``--model_from_ckpt``).
    An option of ``ADDED_MODEL_OPTIONS`` that the checkpoint lacks and the command has counts as its former value."""
    saved_flat, given_flat = _flat(saved), _flat(given)
    for name, value in ADDED_MODEL_OPTIONS.items():
        if f"model.init_args.{name}" in given_flat:
            saved_flat.setdefault(f"model.init_args.{name}", value)
    differences = []
    for key in sorted(set(saved_flat) | set(given_flat)):
        if any(key == prefix or key.startswith(prefix + ".") for prefix in skip):
            continue
        before, after = saved_flat.get(key), given_flat.get(key)
        if before != after:
            differences.append(f"{key.replace('.init_args', '')}: checkpoint {before!r}, given {after!r}")
    return differences
