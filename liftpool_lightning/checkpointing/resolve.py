"""Find the checkpoint to resume from and check a checkpoint file before any data is loaded or model built."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

#: ``--ckpt_path`` values that Lightning resolves itself (not file paths).
SPECIAL_CKPT_PATHS = ("best", "last", "hpc", "registry")


def read_checkpoint(path: str | Path) -> object:
    """The content of a torch checkpoint file (a Lightning checkpoint or a plain state dict), on the CPU, opened with
    ``weights_only=True`` (no pickled code runs: files from untrusted places are safe to read) and memory-mapped
    (cheap for large files). Errors are one line naming the file: missing, a folder, not a torch file, truncated,
    or holding pickled objects."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise ValueError(f"checkpoint {path} is not a file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # mmap needs the zip format: retry plainly to tell legacy files from broken ones
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(f"{path} is not a readable checkpoint: {_reason(error)}") from None


def check_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint's content (``read_checkpoint``); a plain state dict or anything else is an error
    naming the file."""
    path = Path(path)
    content = read_checkpoint(path)
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


@dataclass
class LastCheckpointSearch:
    """What ``--ckpt_path last`` found: the checkpoint to resume (or None) and the newer ones it passed over because
    they belong to another experiment, each with what differs."""

    found: Path | None
    passed_over: list[tuple[Path, list[str]]] = field(default_factory=list)


def search_last_checkpoint(
    roots: Iterable[str | Path], differences: Callable[[Mapping[str, Any]], list[str]] | None = None
) -> LastCheckpointSearch:
    """The latest state of the newest run under ``roots`` (searched recursively) for which ``differences(checkpoint)``
    is empty (every run when ``differences`` is None).

    Runs are taken newest first (by their checkpoint folder's newest file); within a folder the checkpoint of the
    most training steps wins, whatever its name (a ``last.ckpt`` written every N steps can be older than the epoch's
    checkpoint beside it), and at equal steps a ``last*`` or ``hpc_ckpt_*`` file. Unreadable candidates (e.g.
    truncated by a crash of a tool that does not write atomically) are skipped with a warning naming them, so
    ``--ckpt_path last`` always resumes from a loadable file.
    """
    folders: dict[Path, list[Path]] = {}
    for path in {path for root in map(Path, roots) if root.is_dir() for path in root.rglob("*.ckpt")}:
        if path.is_file():
            folders.setdefault(path.parent, []).append(path)
    search = LastCheckpointSearch(found=None)
    newest_first = sorted(folders.values(), key=lambda paths: max(p.stat().st_mtime for p in paths), reverse=True)
    for paths in newest_first:
        readable = []
        for candidate in paths:
            try:
                readable.append((candidate, check_checkpoint_file(candidate)))
            except (ValueError, FileNotFoundError) as error:
                warnings.warn(f"skipping {candidate}: {error}", stacklevel=2)
        readable.sort(key=lambda item: (_progress(item[1]), _is_last(item[0]), item[0].stat().st_mtime), reverse=True)
        for candidate, content in readable:
            problems = differences(content) if differences else []
            if problems:
                search.passed_over.append((candidate, problems))
                continue
            search.found = candidate
            return search
    return search


def _is_last(path: Path) -> bool:
    """A ``last*.ckpt`` or SLURM/preemption ``hpc_ckpt_*.ckpt``: preferred to another file of the same progress."""
    return path.name.startswith(("last", "hpc_ckpt_"))


def _progress(content: Mapping[str, Any]) -> tuple[int, int]:
    """(global step, epoch) a checkpoint was saved at."""
    step, epoch = content.get("global_step"), content.get("epoch")
    return (step if isinstance(step, int) else -1, epoch if isinstance(epoch, int) else -1)


def find_last_checkpoint(root: str | Path) -> Path | None:
    """The latest state of the newest run under ``root``, or None (see ``search_last_checkpoint``)."""
    return search_last_checkpoint([root]).found
