"""Silence the few messages that every ``liftpool`` run printed and that tell a user nothing about their run.

Each filter matches one message from one module or logger; every other warning and log line still shows.

* ``No CUDA runtime is found, using CUDA_HOME=...``: torch's C++ extension helper on a CPU machine with a CUDA
  toolkit folder; LiftPool's C++ kernels are CPU kernels and build without CUDA.
* Lightning's ``💡 Tip:`` lines advertising ``litlogger`` and ``litmodels`` on every Trainer.
* ``isinstance(treespec, LeafSpec)`` is deprecated: a FutureWarning torch raises inside Lightning's own
  ``lightning.pytorch.utilities._pytree``; nothing a user of Lightning can change.
"""

from __future__ import annotations

import logging
import re
import warnings

#: (logger name, message pattern) of log records to drop.
NOISY_LOG_RECORDS = (
    ("torch.utils.cpp_extension", r"^No CUDA runtime is found, using CUDA_HOME="),
    *(
        (name, r"^💡 Tip: .*\[(litlogger|litmodels)\]")
        for name in (  # rank_zero_info logs through whichever of these Lightning set up last
            "lightning.pytorch.utilities.rank_zero",
            "lightning.fabric.utilities.rank_zero",
            "lightning_utilities.core.rank_zero",
        )
    ),
)

#: (message pattern, module) of warnings to ignore.
NOISY_WARNINGS = ((r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\.pytorch\.utilities\._pytree"),)


class _DropMatching(logging.Filter):
    """Drops the records whose message matches ``pattern``."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


def silence_startup_noise() -> None:
    """Install the filters above (idempotent); call before torch and Lightning are imported."""
    for name, pattern in NOISY_LOG_RECORDS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMatching) and f.pattern.pattern == pattern for f in logger.filters):
            logger.addFilter(_DropMatching(pattern))
    for message, module in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning, module=module)
