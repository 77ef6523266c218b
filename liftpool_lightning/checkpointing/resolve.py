"""Find the checkpoint to resume from and check a checkpoint file before any data is loaded or model built."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

#: ``--ckpt_path`` values that Lightning resolves itself (not file paths).
SPECIAL_CKPT_PATHS = ("best", "last", "hpc", "registry")


def check_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """Open a Lightning checkpoint with ``weights_only=True`` (no pickled code runs) and memory-mapped (cheap for
    large files); return its content. Errors name the file: missing, not a checkpoint, truncated, or a plain state
    dict rather than a Lightning checkpoint."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise ValueError(f"checkpoint {path} is not a file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # mmap needs the zip format: retry plainly to tell legacy files from broken ones
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(f"{path} is not a readable checkpoint: {_reason(error)}") from None
    if not isinstance(content, dict) or "state_dict" not in content:
        kind = "a plain state dict" if isinstance(content, dict) else f"a {type(content).__name__}"
        raise ValueError(
            f"{path} is {kind}, not a checkpoint written by `liftpool fit` (no 'state_dict' entry); to start from "
            "such weights use model.init_args.backbone_checkpoint or load them in Python"
        )
    return content


def _reason(error: Exception) -> str:
    text = str(error)
    if "Weights only load failed" in text:
        return (
            "not a torch file, or one holding pickled Python objects that are not run for safety"
            " (loading uses weights_only=True)"
        )
    if "central directory" in text or "zip archive" in text:
        return "truncated or corrupted (incomplete zip archive)"
    return f"not a torch checkpoint file ({type(error).__name__}: {text.splitlines()[0] if text else ''})"


def find_last_checkpoint(root: str | Path) -> Path | None:
    """The newest readable ``last*.ckpt`` or ``hpc_ckpt_*.ckpt`` under ``root`` (searched recursively), or None.

    Unreadable candidates (e.g. truncated by a crash of a tool that does not write atomically) are skipped with a
    warning naming them, so ``--ckpt_path last`` always resumes from a loadable file.
    """
    root = Path(root)
    if not root.is_dir():
        return None
    candidates = {*root.rglob("last*.ckpt"), *root.rglob("hpc_ckpt_*.ckpt")}
    for candidate in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            check_checkpoint_file(candidate)
        except (ValueError, FileNotFoundError) as error:
            warnings.warn(f"skipping {candidate}: {error}", stacklevel=2)
            continue
        return candidate
    return None
