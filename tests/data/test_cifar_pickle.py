"""CIFAR files are read by a restricted unpickler: the official format loads, crafted or broken files run no code and
fail with one line naming the file."""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from liftpool_lightning.data.cifar import CheckedCIFAR100
from liftpool_lightning.data.cifar_pickle import CIFARFileError, load_cifar_batch, load_cifar_names, load_cifar_pickle
from tests.cli.conftest import ROOT, run_subprocess
from tests.data.cifar100 import make_cifar100


class RunsCode:
    """Pickles as a call of ``function(*args)``: what a crafted file makes ``pickle.load`` do."""

    def __init__(self, function: Callable, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple:
        return self.function, self.args


def _code_that_creates(marker: Path) -> dict[str, RunsCode]:
    return {
        "os.system": RunsCode(os.system, f"touch '{marker}'"),
        "exec": RunsCode(exec, f"open({str(marker)!r}, 'w').close()"),
        "open": RunsCode(open, str(marker), "w"),
    }


def _official(path: Path) -> dict:
    with path.open("rb") as handle:
        return pickle.load(handle, encoding="latin1")


def _one_line(error: pytest.ExceptionInfo, path: Path, problem: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert re.fullmatch(re.escape(f"CIFAR file {path} is not a CIFAR pickle: ") + problem, message), message


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_cifar100(tmp_path / "data", num_train=12, num_test=6)


def test_the_official_format_loads_with_the_same_values(folder: Path) -> None:
    for split in ("train", "test"):
        expected = _official(folder / split)
        data, labels = load_cifar_batch(folder / split, "fine_labels")
        assert data.dtype == np.uint8 and data.shape == (len(expected["data"]), 3072)
        np.testing.assert_array_equal(data, expected["data"])
        assert labels == expected["fine_labels"] and all(type(label) is int for label in labels)
    assert load_cifar_names(folder / "meta", "fine_label_names") == [f"fine_{i}" for i in range(100)]
    keys = {"data", "fine_labels", "coarse_labels", "filenames", "batch_label"}
    assert set(load_cifar_pickle(folder / "train")) == keys


def test_the_dataset_holds_the_files_values(folder: Path) -> None:
    dataset = CheckedCIFAR100(folder.parent, train=True)
    expected = _official(folder / "train")
    assert dataset.targets == expected["fine_labels"]
    np.testing.assert_array_equal(dataset.data, expected["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert dataset.classes[:2] == ["fine_0", "fine_1"] and dataset.class_to_idx["fine_99"] == 99
    image, label = dataset[3]
    assert image.size == (32, 32) and label == expected["fine_labels"][3]
    np.testing.assert_array_equal(np.asarray(image), expected["data"][3].reshape(3, 32, 32).transpose(1, 2, 0))


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_files_written_by_python_3_load(tmp_path: Path, protocol: int) -> None:
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": data, "labels": [3, 4]}, protocol=protocol))
    loaded, labels = load_cifar_batch(path, "labels")
    np.testing.assert_array_equal(loaded, data)
    assert labels == [3, 4]


@pytest.mark.parametrize("call", ["os.system", "exec", "open"])
def test_a_crafted_file_runs_no_code(folder: Path, tmp_path: Path, call: str) -> None:
    marker = tmp_path / "marker"
    entry = _official(folder / "train")
    entry["batch_label"] = _code_that_creates(marker)[call]
    crafted = pickle.dumps(entry, protocol=2)
    pickle.loads(crafted)  # the file is really dangerous: a plain pickle.load runs its code
    assert marker.exists()
    marker.unlink()

    (folder / "train").write_bytes(crafted)
    with pytest.raises(CIFARFileError) as error:
        CheckedCIFAR100(folder.parent, train=True)
    assert not marker.exists()
    # protocol 2 writes Python-2 names; the restricted unpickler sees them unmapped
    global_name = {"os.system": "posix.system", "exec": r"__builtin__\.exec", "open": r"io\.open"}[call]
    _one_line(error, folder / "train", f"forbidden global {global_name}")


def test_a_crafted_meta_file_runs_no_code(folder: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    names = [f"fine_{i}" for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [*names, RunsCode(open, str(marker), "w")]}))
    with pytest.raises(CIFARFileError) as error:
        CheckedCIFAR100(folder.parent, train=False)
    assert not marker.exists()
    _one_line(error, folder / "meta", r"forbidden global (io|builtins)\.open")


def _truncated(path: Path) -> bytes:
    return path.read_bytes()[: path.stat().st_size // 2]


BROKEN = {
    "garbage": (lambda path: b"\x00\x01 these are not pickled CIFAR images \xff" * 20, r"invalid load key, .*"),
    "empty": (lambda path: b"", "Ran out of input"),
    "text": (lambda path: b"data,labels\n1,2\n", ".+"),  # the unpickler's own words differ by opcode
    "truncated": (_truncated, "pickle data was truncated"),
    "a list": (lambda path: pickle.dumps([1, 2, 3], protocol=2), "expected a dict with string keys, got list"),
    "no data": (lambda path: pickle.dumps({"fine_labels": [1]}), r"missing data \(keys: fine_labels\)"),
    "float data": (
        lambda path: pickle.dumps({"data": np.zeros((2, 3072), np.float32), "fine_labels": [1, 2]}),
        r"data must be a uint8 array of shape \(N, 3072\), got float32 array of shape \(2, 3072\)",
    ),
    "short rows": (
        lambda path: pickle.dumps({"data": np.zeros((2, 1024), np.uint8), "fine_labels": [1, 2]}),
        r"data must be a uint8 array of shape \(N, 3072\), got uint8 array of shape \(2, 1024\)",
    ),
    "label count": (
        lambda path: pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [1]}),
        "2 images but 1 fine_labels",
    ),
    "string labels": (
        lambda path: pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "fine_labels": ["1"]}),
        "fine_labels must be a list of ints",
    ),
    "other codec": (
        lambda path: b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.",
        r"forbidden call _codecs\.encode\(<str>, 'rot13'\)",
    ),
    "persistent id": (lambda path: b"\x80\x02X\x01\x00\x00\x00xQ.", "forbidden persistent id"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_train_file_is_one_line_naming_it(folder: Path, name: str) -> None:
    make, problem = BROKEN[name]
    path = folder / "train"
    path.write_bytes(make(path))
    with pytest.raises(CIFARFileError) as error:
        CheckedCIFAR100(folder.parent, train=True)
    _one_line(error, path, problem)
    assert isinstance(error.value, ValueError)  # what the CLI reports in one line


def test_a_broken_meta_file_is_named(folder: Path) -> None:
    (folder / "meta").write_bytes(pickle.dumps({"coarse_label_names": ["a"]}))
    with pytest.raises(CIFARFileError) as error:
        CheckedCIFAR100(folder.parent, train=False)
    _one_line(error, folder / "meta", "fine_label_names must be a non-empty list of strings")


def test_a_label_outside_the_classes_is_named(folder: Path) -> None:
    entry = _official(folder / "test")
    entry["fine_labels"][2] = 140
    (folder / "test").write_bytes(pickle.dumps(entry, protocol=2))
    with pytest.raises(CIFARFileError, match=re.escape(f"CIFAR file {folder / 'test'} holds label 140, but ")):
        CheckedCIFAR100(folder.parent, train=False)


def test_the_console_command_reports_a_crafted_file_in_one_line(tmp_path: Path) -> None:
    folder = make_cifar100(tmp_path / "data")
    marker = tmp_path / "marker"
    entry = _official(folder / "train")
    entry["filenames"] = _code_that_creates(marker)["os.system"]
    (folder / "train").write_bytes(pickle.dumps(entry, protocol=2))
    result = run_subprocess(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "cifar100" / "vgg13_lift.yaml"),
            f"--data.root={tmp_path / 'data'}",
            "--data.num_workers=0",
            "--trainer.accelerator=cpu",
            f"--trainer.default_root_dir={tmp_path}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert not marker.exists()
    lines = result.stderr.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("liftpool: error:")]
    assert len(errors) == 1, result.stderr
    assert lines[errors[0]] == (
        f"liftpool: error: CIFAR file {folder / 'train'} is not a CIFAR pickle: forbidden global posix.system"
    )
    assert len(lines[errors[0] :]) <= 2, result.stderr  # the message and the LIFTPOOL_TRACEBACK hint
    assert "Traceback" not in result.stderr and "Unpickling" not in result.stderr
    assert not list(tmp_path.glob("**/*.ckpt"))
