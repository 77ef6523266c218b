"""CIFAR100DataModule on a tiny CIFAR-100 written in the official pickle format."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from liftpool_lightning.data.cifar import CheckedCIFAR100, CIFAR100DataModule
from liftpool_lightning.data.transforms import CIFAR100_MEAN, CIFAR100_STD
from tests.data.cifar100 import make_cifar100


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_cifar100(tmp_path)
    return tmp_path


def _pickle(root: Path, name: str) -> dict:
    with (root / "cifar-100-python" / name).open("rb") as handle:
        return pickle.load(handle, encoding="latin1")


def test_generator_writes_the_official_format(root: Path) -> None:
    with (root / "cifar-100-python" / "train").open("rb") as handle:
        entry = pickle.load(handle, encoding="bytes")
    assert set(entry) == {b"data", b"fine_labels", b"coarse_labels", b"filenames", b"batch_label"}
    assert entry[b"data"].shape == (20, 3072) and entry[b"data"].dtype == np.uint8
    assert isinstance(entry[b"filenames"][0], bytes)
    assert set(_pickle(root, "meta")) == {"fine_label_names", "coarse_label_names"}


def test_setup_and_batches(root: Path) -> None:
    data = CIFAR100DataModule(str(root), batch_size=4, num_workers=0)
    assert (data.num_classes, data.task) == (100, "classification")
    data.prepare_data()
    data.setup("fit")
    assert len(data.train_dataset) == 20 and len(data.val_dataset) == 10
    assert data.test_dataset is data.val_dataset
    assert len(data.train_dataloader()) == 5
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader()):
        images, labels = next(iter(loader))
        assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
        assert labels.shape == (4,) and labels.dtype == torch.int64
        assert labels.min() >= 0 and labels.max() < 100
    images, labels = next(iter(data.val_dataloader()))
    assert labels.tolist() == _pickle(root, "test")["fine_labels"][:4]


def test_eval_is_normalised_and_deterministic(root: Path) -> None:
    data = CIFAR100DataModule(str(root), num_workers=0)
    data.setup("validate")
    raw = _pickle(root, "test")["data"][0].reshape(3, 32, 32).astype(np.float32) / 255
    expected = (torch.from_numpy(raw) - torch.tensor(CIFAR100_MEAN).view(3, 1, 1)) / torch.tensor(CIFAR100_STD).view(
        3, 1, 1
    )
    image, _ = data.val_dataset[0]
    torch.testing.assert_close(image, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(data.val_dataset[0][0], image, atol=0, rtol=0)


def test_train_augmentation_is_random(root: Path) -> None:
    data = CIFAR100DataModule(str(root), num_workers=0)
    data.setup("fit")
    draws = [data.train_dataset[0][0] for _ in range(6)]
    assert any(not torch.equal(draws[0], other) for other in draws[1:])
    assert all(draw.shape == (3, 32, 32) for draw in draws)


def test_missing_data_names_the_path(tmp_path: Path) -> None:
    data = CIFAR100DataModule(str(tmp_path), num_workers=0)
    expected = re.escape(str(tmp_path / "cifar-100-python" / "train"))
    with pytest.raises(FileNotFoundError, match=f"{expected}.*download=True"):
        data.prepare_data()
    with pytest.raises(FileNotFoundError, match=f"{expected}.*--data.download true"):
        data.setup("fit")


def test_one_missing_file_is_named(root: Path) -> None:
    (root / "cifar-100-python" / "meta").unlink()
    data = CIFAR100DataModule(str(root), num_workers=0)
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "cifar-100-python" / "meta"))):
        data.setup("fit")


def test_md5_check_kept_when_verifying(root: Path) -> None:
    assert len(CheckedCIFAR100(root, train=False)) == 10  # presence only: the tiny files load
    with pytest.raises(RuntimeError, match="corrupted"):
        CheckedCIFAR100(root, train=False, verify=True)  # torchvision's md5 check rejects them
