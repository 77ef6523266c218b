"""Tiny CIFAR-100 in the official on-disk format: ``cifar-100-python/{train,test,meta}`` Python-2 pickles.

The official files were pickled by Python 2: dict keys and names are Python-2 ``str``, which Python 3 loads as ``str``
with ``encoding="latin1"`` (torchvision) and as ``bytes`` with ``encoding="bytes"`` (the dataset web page's recipe).
The image array is written as numpy 1 under Python 2 wrote it: ``numpy.core.multiarray._reconstruct``, then its raw
bytes as a Python-2 ``str``. This writer produces the same opcodes, so both readings work.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


class Py2Str(bytes):
    """A Python-2 ``str``: pickled as (SHORT_)BINSTRING, like the official files."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets a type choose its opcodes
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj: Py2Str) -> None:
        data = bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str

    def save_ndarray(self, obj: np.ndarray) -> None:
        self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
        self.save((np.ndarray, (0,), Py2Str(b"b")))
        self.write(pickle.REDUCE)
        self.memoize(obj)
        self.save((1, obj.shape, obj.dtype, False, Py2Str(np.ascontiguousarray(obj).tobytes())))
        self.write(pickle.BUILD)

    dispatch[np.ndarray] = save_ndarray


def _dump(obj: object, path: Path) -> None:
    with path.open("wb") as handle:
        _Py2Pickler(handle, protocol=2).dump(obj)


def make_cifar100(root: Path, num_train: int = 20, num_test: int = 10, seed: int = 0) -> Path:
    """Write ``<root>/cifar-100-python/{train,test,meta}``; return the ``cifar-100-python`` folder."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, count in (("train", num_train), ("test", num_test)):
        fine = [int(label) for label in rng.integers(0, 100, count)]
        _dump(
            {
                Py2Str(b"filenames"): [Py2Str(f"image_{split}_{i}.png".encode()) for i in range(count)],
                Py2Str(b"batch_label"): Py2Str(f"{split}ing batch 1 of 1".encode()),
                Py2Str(b"fine_labels"): fine,
                Py2Str(b"coarse_labels"): [label // 5 for label in fine],
                Py2Str(b"data"): rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            },
            folder / split,
        )
    _dump(
        {
            Py2Str(b"fine_label_names"): [Py2Str(f"fine_{i}".encode()) for i in range(100)],
            Py2Str(b"coarse_label_names"): [Py2Str(f"coarse_{i}".encode()) for i in range(20)],
        },
        folder / "meta",
    )
    return folder
