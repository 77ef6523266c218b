"""CIFAR python-version files read without running code: an unpickler that can build numpy arrays and nothing else.

The official ``cifar-10-batches-py`` / ``cifar-100-python`` files are protocol-2 pickles written by Python 2: a dict
of strings, lists of ints or strings, and one uint8 numpy array. Unpickling calls whatever function a file names, so
``pickle.load`` on a crafted file runs arbitrary code; :class:`CIFARUnpickler` hands out only the numpy array
reconstruction those files use and rejects every other global before anything is called.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2
    _multiarray = importlib.import_module("numpy._core.multiarray")
except ImportError:  # numpy 1
    _multiarray = importlib.import_module("numpy.core.multiarray")
_reconstruct = _multiarray._reconstruct

IMAGE_BYTES = 3 * 32 * 32


class CIFARFileError(ValueError):
    """A CIFAR file that is not a CIFAR pickle; the message names the file and what is wrong, in one line."""


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as Python 3 writes ``bytes`` at protocol 2, restricted to that one use."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"forbidden call _codecs.encode(<{type(text).__name__}>, {encoding!r})")
    return text.encode("latin1")


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # the official files (numpy 1 writers)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy 2 writers
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,  # an array's raw bytes pickled by Python 3 at protocol 2
}


class CIFARUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose only globals are numpy's array and dtype reconstruction."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("forbidden persistent id")


def _error(path: Path, problem: str) -> CIFARFileError:
    first_line = problem.strip().splitlines()[0] if problem.strip() else "unreadable"
    return CIFARFileError(f"CIFAR file {path} is not a CIFAR pickle: {first_line}")


def _text(value: Any) -> Any:
    """Python-2 strings come back as ``str`` with latin1 decoding, or as ``bytes`` from Python-3 writers."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def load_cifar_pickle(path: str | Path) -> dict[str, Any]:
    """Unpickle the CIFAR file ``path`` without running code; its dict with ``str`` keys.

    Raises:
        CIFARFileError: the file is not a pickle, is truncated, names a forbidden global or does not hold a dict.
        OSError: the file cannot be read.
    """
    path = Path(path)
    with path.open("rb") as handle:
        try:
            content = CIFARUnpickler(handle, encoding="latin1").load()
        except OSError:
            raise
        except Exception as error:  # anything a malformed pickle makes the unpickler raise
            raise _error(path, str(error) or type(error).__name__) from error
    if not isinstance(content, dict) or not all(isinstance(key, str | bytes) for key in content):
        raise _error(path, f"expected a dict with string keys, got {type(content).__name__}")
    return {_text(key): value for key, value in content.items()}


def load_cifar_batch(path: str | Path, label_key: str) -> tuple[np.ndarray, list[int]]:
    """The images (uint8, N x 3072, channel-major) and labels of a CIFAR batch file.

    Args:
        path: a batch file (``train``/``test`` of CIFAR-100, ``data_batch_N``/``test_batch`` of CIFAR-10).
        label_key: ``fine_labels`` (CIFAR-100) or ``labels`` (CIFAR-10).
    """
    content = load_cifar_pickle(path)
    missing = [key for key in ("data", label_key) if key not in content]
    if missing:
        raise _error(Path(path), f"missing {', '.join(missing)} (keys: {', '.join(sorted(content)) or 'none'})")
    data, labels = content["data"], content[label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise _error(Path(path), f"data must be a uint8 array of shape (N, {IMAGE_BYTES}), got {got}")
    if not isinstance(labels, list) or not all(type(label) is int for label in labels):
        raise _error(Path(path), f"{label_key} must be a list of ints")
    if len(labels) != len(data):
        raise _error(Path(path), f"{len(data)} images but {len(labels)} {label_key}")
    return data, labels


def load_cifar_names(path: str | Path, key: str) -> list[str]:
    """The class names under ``key`` (``fine_label_names`` of CIFAR-100, ``label_names`` of CIFAR-10) of a meta file."""
    content = load_cifar_pickle(path)
    names = content.get(key)
    if not isinstance(names, list) or not names or not all(isinstance(name, str | bytes) for name in names):
        raise _error(Path(path), f"{key} must be a non-empty list of strings")
    return [_text(name) for name in names]
