"""Checkpoint files that survive kills (atomic writes) and are read, found and checked in one place before a run
resumes from them or a network is built from them.

Reading needs torch only (models and the hub use it); ``AtomicCheckpointIO`` loads Lightning when first used.
"""

from typing import Any

from liftpool_lightning.checkpointing.resolve import check_checkpoint_file, find_last_checkpoint, read_checkpoint

__all__ = ["AtomicCheckpointIO", "check_checkpoint_file", "find_last_checkpoint", "read_checkpoint"]


def __getattr__(name: str) -> Any:
    if name == "AtomicCheckpointIO":  # a Lightning plugin: imported on first use
        from liftpool_lightning.checkpointing.atomic_io import AtomicCheckpointIO

        return AtomicCheckpointIO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
