"""One or two lines for every error a user of ``liftpool`` can make, instead of a usage block or a traceback.

Here: the exceptions a user's input causes (:func:`exception_lines`): our own checks raised while the model and data
module are built, Lightning's ``MisconfigurationException``, missing files, a failed download
(``data.base.DownloadError``); and the helpers every message shares (the prefix, :func:`did_you_mean`). The parser's
own messages are read in :mod:`liftpool_lightning.cli_parser_messages`, the one module that depends on jsonargparse's
wording.

``LIFTPOOL_TRACEBACK=1`` keeps the parser's full output and the full traceback. This module imports neither torch nor
Lightning: ``liftpool --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable, Sequence

TRACEBACK_ENV = "LIFTPOOL_TRACEBACK"
PREFIX = "liftpool: error:"
TRACEBACK_HINT = f"(set {TRACEBACK_ENV}=1 to see where it came from)"


def full_trace_requested() -> bool:
    """True when ``LIFTPOOL_TRACEBACK`` is set (to anything but 0): keep full parser output and tracebacks."""
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


def config_paths(argv: Sequence[str]) -> list[str]:
    """The ``--config`` / ``-c`` files on a command line, in order."""
    paths = []
    for i, arg in enumerate(argv):
        if arg in ("--config", "-c") and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (case-insensitive), or None when none is close."""
    lowered = {choice.lower(): choice for choice in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


#: What a user's values, files or data raise (our checks follow the DESIGN's ValueError/TypeError convention).
_USER_ERRORS = (ValueError, TypeError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
                FloatingPointError)  # fmt: skip


def _is_download_error(error: BaseException) -> bool:
    data = sys.modules.get("liftpool_lightning.data.base")  # not loaded: the error cannot be one of its errors
    return data is not None and isinstance(error, data.DownloadError)


def _is_misconfiguration(error: BaseException) -> bool:
    return any(cls.__name__ == "MisconfigurationException" for cls in type(error).__mro__)


def exception_lines(error: BaseException) -> list[str] | None:
    """The lines to print for an exception a user's config, command line or data causes; None for anything else
    (a bug keeps its traceback)."""
    from urllib.error import URLError

    from liftpool_lightning.cli_parser_messages import unwrap_instantiation

    inner, owner = unwrap_instantiation(error)
    if inner is not error:  # raised while the model or data module was built: our own checks of the values
        known = isinstance(inner, _USER_ERRORS) or _is_misconfiguration(inner)
        return [f"{PREFIX} {owner + ': ' if owner else ''}{inner}"] if known else None
    if _is_misconfiguration(error) or _is_download_error(error):
        return [f"{PREFIX} {error}"]
    if isinstance(error, URLError):
        return [f"{PREFIX} could not reach the network: {error.reason}", TRACEBACK_HINT]
    if isinstance(error, _USER_ERRORS):
        return [f"{PREFIX} {error}", TRACEBACK_HINT]
    return None
