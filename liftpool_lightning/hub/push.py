"""Uploading a bundle to the Hugging Face Hub: ``push_to_hub``."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from liftpool_lightning import __version__
from liftpool_lightning.hub.bundle import save_pretrained
from liftpool_lightning.hub.card import point_usage_at
from liftpool_lightning.hub.config import LIBRARY_NAME
from liftpool_lightning.hub.extra import require_extra
from liftpool_lightning.hub.files import BUNDLE_FILES, CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from liftpool_lightning.hub.loading import REPO_ID, read_config


def check_repo_id(repo_id: str, name: str = "repo_id") -> None:
    """Raise ValueError unless ``repo_id`` is a Hub model repository's id, ``user/name``."""
    if not REPO_ID.match(repo_id) or "/" not in repo_id:
        raise ValueError(f"{name} must look like user/name, got {repo_id!r}")


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
    hub = require_extra("huggingface_hub", "push_to_hub")
    check_repo_id(repo_id)
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
    read_config(folder / CONFIG_NAME)
    card = folder / CARD_NAME
    if card.is_file():  # the generated card's usage example loads from the repository it is uploaded to
        text = card.read_text(encoding="utf-8")
        updated = point_usage_at(text, repo_id)
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
