"""Checkpoint writes that a kill, a preemption or a full disk cannot leave half-done.

Lightning's default ``TorchCheckpointIO`` serialises to memory and then writes through an fsspec transaction, which
for local files writes into the system temp folder and moves the file into place: on clusters that folder is a
different file system from the checkpoint folder, the move becomes copy-then-delete, and a kill during the copy
leaves a truncated ``last.ckpt``; nothing is fsync'ed either. ``AtomicCheckpointIO`` writes a temp file next to the
destination, fsyncs it, renames it over the destination (``os.replace``: atomic on POSIX and Windows within one file
system) and fsyncs the folder. A reader sees the old file or the new one, never a part. Remote paths (``s3://``...)
keep Lightning's behaviour (object stores replace objects whole).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override

TEMP_MARKER = ".partial-"


def _fsync_folder(folder: Path) -> None:
    if os.name == "nt":  # folders cannot be opened for fsync on Windows
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_torch_save(content: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` through a temp file in the same folder, fsync and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}{TEMP_MARKER}*"):  # left by a process killed mid-write
        with contextlib.suppress(OSError):
            stale.unlink()
    temp = path.parent / f".{path.name}{TEMP_MARKER}{os.getpid()}"
    try:
        with open(temp, "wb") as handle:
            torch.save(content, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local writes are atomic (temp file + fsync + rename); the CLI uses it by default.

    Use it in Python with ``Trainer(plugins=[AtomicCheckpointIO()])``.
    """

    @override
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(
                "`Trainer.save_checkpoint(..., storage_options=...)` with `storage_options` arg"
                f" is not supported for `{type(self).__name__}`."
            )
        local = "://" not in str(path) or str(path).startswith("file://")
        if not local:
            super().save_checkpoint(checkpoint, path)
            return
        atomic_torch_save(checkpoint, str(path).removeprefix("file://"))
