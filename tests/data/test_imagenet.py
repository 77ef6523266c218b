"""ImageNetDataModule on a tiny three-class ImageFolder tree."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from liftpool_lightning.data.imagenet import ImageNetDataModule
from liftpool_lightning.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from tests.data.imagenet import CLASSES, make_imagenet


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_imagenet(tmp_path / "imagenet")


def _module(root: Path) -> ImageNetDataModule:
    return ImageNetDataModule(str(root), batch_size=4, num_workers=0, image_size=32)


def test_num_classes_from_folders(root: Path, tmp_path: Path) -> None:
    assert _module(root).num_classes == 3
    assert _module(tmp_path / "absent").num_classes == 1000


def test_setup_and_batches(root: Path) -> None:
    data = _module(root)
    data.prepare_data()
    data.setup("fit")
    assert len(data.train_dataset) == 9 and len(data.val_dataset) == 6
    assert data.test_dataset is data.val_dataset
    assert data.val_dataset.classes == list(CLASSES)
    assert data.val_dataset.names[:2] == ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002"]
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader()):
        images, labels = next(iter(loader))
        assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
        assert labels.dtype == torch.int64 and labels.min() >= 0 and labels.max() <= 2
    _, labels = next(iter(data.val_dataloader()))
    assert labels.tolist() == [0, 0, 1, 1]


def test_normalised_eval_deterministic_train_random(root: Path) -> None:
    data = _module(root)
    data.setup("fit")
    image = data.val_dataset[0][0]
    torch.testing.assert_close(data.val_dataset[0][0], image, atol=0, rtol=0)
    pixels = image * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    assert image.min() < 0 and pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    draws = [data.train_dataset[0][0] for _ in range(4)]
    assert any(not torch.equal(draws[0], other) for other in draws[1:])


def test_missing_root(tmp_path: Path) -> None:
    data = _module(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "absent")) + ".*image-net.org"):
        data.setup("fit")


def test_missing_val_folder(root: Path) -> None:
    shutil.rmtree(root / "val")
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "val")) + ".*<root>/val/<class>/<image>"):
        _module(root).prepare_data()


def test_different_class_folders(root: Path) -> None:
    shutil.copytree(root / "val" / CLASSES[0], root / "val" / "n99999999")
    with pytest.raises(ValueError, match=r"class folders differ.*only in val: \['n99999999'\]"):
        _module(root).setup("fit")


def test_empty_class_folder(root: Path) -> None:
    for split in ("train", "val"):
        (root / split / "n00000000").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "train" / "n00000000")) + " holds no image"):
        _module(root).setup("fit")


def test_class_count_changed_after_construction(tmp_path: Path) -> None:
    data = _module(tmp_path / "late")
    make_imagenet(tmp_path / "late")
    with pytest.raises(ValueError, match="3 class folders but num_classes is 1000"):
        data.setup("fit")


def test_corrupt_image_names_the_file(root: Path) -> None:
    path = root / "val" / CLASSES[0] / "ILSVRC2012_val_00000001.JPEG"
    path.write_bytes(path.read_bytes()[:200])
    data = _module(root)
    data.setup("validate")
    with pytest.raises(OSError, match=re.escape(str(path))):
        data.val_dataset[0]
    assert Image.open(root / "val" / CLASSES[0] / "ILSVRC2012_val_00000002.JPEG").size[0] >= 40
