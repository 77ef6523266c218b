"""Loading a bundle from a folder or a Hugging Face Hub repo: ``from_pretrained`` and ``load_config``."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from liftpool_lightning import __version__
from liftpool_lightning.checkpointing.compatibility import state_dict_mismatch
from liftpool_lightning.hub.config import CONFIG_KEYS, LIBRARY_NAME, create_model
from liftpool_lightning.hub.extra import require_extra
from liftpool_lightning.hub.files import CONFIG_NAME, WEIGHTS_NAME

log = logging.getLogger(__name__)

#: A Hugging Face Hub repo id: ``name`` or ``user/name``.
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _download(repo_id: str, filename: str, **hub_options: Any) -> Path:
    hub = require_extra("huggingface_hub", f"loading {repo_id!r} from the Hugging Face Hub")
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
    if not REPO_ID.match(str(name_or_path)):
        raise FileNotFoundError(f"{name_or_path} is neither a folder nor a Hugging Face Hub repo id (user/name)")
    repo_id = str(name_or_path)
    return _download(repo_id, CONFIG_NAME, **hub_options), _download(repo_id, WEIGHTS_NAME, **hub_options)


def read_config(path: Path) -> dict[str, Any]:
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
        return read_config(path / CONFIG_NAME)
    options = {"revision": revision, "cache_dir": cache_dir, "token": token, "local_files_only": local_files_only}
    return read_config(_download(str(name_or_path), CONFIG_NAME, **options))


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
        revision: as in ``huggingface_hub.hf_hub_download``.
        cache_dir: as in ``huggingface_hub.hf_hub_download``.
        token: as in ``huggingface_hub.hf_hub_download``.
        local_files_only: as in ``huggingface_hub.hf_hub_download``.
        force_download: as in ``huggingface_hub.hf_hub_download``.
        **overrides: config entries to change (``num_classes``, ``pool_options``, ...; see ``CONFIG_KEYS``); another
            ``pool`` without ``pool_options`` starts from that pool's defaults.
    """
    unknown = sorted(set(overrides) - set(CONFIG_KEYS))
    if unknown:
        raise TypeError(
            f"from_pretrained: unknown options {', '.join(unknown)}; config entries: {', '.join(CONFIG_KEYS)}"
        )
    safetensors_torch = require_extra("safetensors.torch", "from_pretrained")
    hub_options = {"revision": revision, "cache_dir": cache_dir, "token": token, "local_files_only": local_files_only,
                   "force_download": force_download}  # fmt: skip
    config_path, weights_path = _bundle_files(name_or_path, hub_options)
    config = read_config(config_path)
    saved_version = config.get("library_version")
    if saved_version and saved_version != __version__:
        log.warning(
            "%s was saved by %s %s (this is %s): pool options it did not set take this version's defaults",
            name_or_path, LIBRARY_NAME, saved_version, __version__,
        )  # fmt: skip
    if "pool" in overrides and overrides["pool"] != config.get("pool") and "pool_options" not in overrides:
        config["pool_options"] = None  # the saved options belong to the saved pool
    config.update(overrides)
    options: dict[str, Any] = {key: config.get(key) for key in CONFIG_KEYS}  # checked by create_model
    model = create_model(**options)
    try:
        state = safetensors_torch.load_file(str(weights_path), device="cpu")
    except Exception as error:
        raise ValueError(f"{weights_path} is not a readable safetensors file: {error}") from None
    expected = model.state_dict()
    problems = state_dict_mismatch(state, expected, saved_name="file", own_name="network")
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
