"""Checkpoint files that survive kills (atomic writes) and are found and checked before a run resumes from them."""

from liftpool_lightning.checkpointing.atomic_io import AtomicCheckpointIO
from liftpool_lightning.checkpointing.resolve import check_checkpoint_file, find_last_checkpoint

__all__ = ["AtomicCheckpointIO", "check_checkpoint_file", "find_last_checkpoint"]
