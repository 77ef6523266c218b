"""VOCSegmentationDataModule on tiny VOC 2012 and SBD trees: trainaug ids, batches, masks, failure messages."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from liftpool_lightning.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from liftpool_lightning.data.voc import VOCSegmentationDataModule, load_mask
from tests.data.voc import VOC_TRAIN, VOC_VAL, make_sbd, make_voc, write_palette_png

# VOC train + SBD train + SBD val - VOC val, written out by hand.
TRAINAUG = [
    "2007_000032",  # VOC train and SBD train: VOC mask
    "2007_000039",  # VOC train and SBD val: VOC mask
    "2007_000063",
    "2008_000008",
    "2008_000100",  # SBD only: .mat mask, SBD image
    "2008_000101",
    "2008_000102",
    "2010_000200",
    "2010_000201",
]  # 2007_000033 (SBD train) and 2007_000042 (SBD val) are VOC val: left out


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    make_voc(tmp_path / "voc")
    make_sbd(tmp_path / "sbd")
    return tmp_path / "voc", tmp_path / "sbd"


def _module(roots: tuple[Path, Path], sbd: bool = True, **options) -> VOCSegmentationDataModule:
    return VOCSegmentationDataModule(
        str(roots[0]), str(roots[1]) if sbd else None, crop_size=40, batch_size=4, num_workers=0, **options
    )


def test_trainaug_ids_and_mask_sources(roots: tuple[Path, Path]) -> None:
    data = _module(roots)
    assert (data.num_classes, data.task) == (21, "segmentation")
    data.prepare_data()
    data.setup("fit")
    train = data.train_dataset
    assert train.names == TRAINAUG
    assert data.val_dataset.names == list(VOC_VAL)
    assert data.test_dataset is data.val_dataset and data.predict_dataset is data.val_dataset
    files = zip(train.names, train.images, train.masks, strict=True)
    sources = {name: (Path(image).parts[-2], Path(mask).suffix) for name, image, mask in files}
    assert sources["2007_000032"] == ("JPEGImages", ".png")
    assert sources["2007_000039"] == ("JPEGImages", ".png")
    assert sources["2008_000100"] == ("img", ".mat")
    assert sources["2010_000201"] == ("img", ".mat")
    assert sum(suffix == ".png" for _, suffix in sources.values()) == len(VOC_TRAIN)


def test_voc_mask_preferred_over_sbd(roots: tuple[Path, Path]) -> None:
    voc, sbd = roots
    png = load_mask(str(voc / "VOCdevkit/VOC2012/SegmentationClass/2007_000032.png"))
    mat = load_mask(str(sbd / "dataset/cls/2007_000032.mat"))
    assert not np.array_equal(png, mat) and 255 in png and mat.max() <= 20
    data = _module(roots)
    data.setup("fit")
    index = data.train_dataset.names.index("2007_000032")
    assert np.array_equal(load_mask(data.train_dataset.masks[index]), png)


def test_without_sbd_trains_on_voc_train(roots: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    data = _module(roots, sbd=False)
    with caplog.at_level(logging.WARNING):
        data.setup("fit")
    assert data.train_dataset.names == list(VOC_TRAIN)
    assert "trainaug" in caplog.text


def test_batches(roots: tuple[Path, Path]) -> None:
    data = _module(roots)
    data.setup("fit")
    images, masks = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 40, 40) and images.dtype == torch.float32
    assert masks.shape == (4, 40, 40) and masks.dtype == torch.int64
    assert set(masks.unique().tolist()) <= set(range(21)) | {255}
    images, masks = next(iter(data.val_dataloader()))
    assert images.shape == (4, 3, 512, 512) and images.dtype == torch.float32
    assert masks.shape == (4, 512, 512) and masks.dtype == torch.int64
    assert set(masks.unique().tolist()) <= set(range(21)) | {255}


def test_eval_item_exact(roots: tuple[Path, Path]) -> None:
    data = _module(roots)
    data.setup("validate")
    name = VOC_VAL[0]
    base = roots[0] / "VOCdevkit" / "VOC2012"
    pixels = np.asarray(Image.open(base / "JPEGImages" / f"{name}.jpg").convert("RGB"), dtype=np.float32) / 255
    label = np.array(Image.open(base / "SegmentationClass" / f"{name}.png"))
    height, width = label.shape
    image, mask = data.val_dataset[0]
    expected = (torch.from_numpy(pixels).permute(2, 0, 1) - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(
        IMAGENET_STD
    ).view(3, 1, 1)
    torch.testing.assert_close(image[:, :height, :width], expected, atol=1e-5, rtol=0)
    assert image[:, height:].abs().max() == 0 and image[:, :, width:].abs().max() == 0
    assert torch.equal(mask[:height, :width], torch.from_numpy(label).long())
    assert (mask[height:] == 255).all() and (mask[:, width:] == 255).all()
    again_image, again_mask = data.val_dataset[0]
    assert torch.equal(again_image, image) and torch.equal(again_mask, mask)


def test_train_augmentation_is_random(roots: tuple[Path, Path]) -> None:
    data = _module(roots)
    data.setup("fit")
    draws = [data.train_dataset[0] for _ in range(4)]
    assert any(not torch.equal(draws[0][1], other[1]) for other in draws[1:])
    for image, mask in draws:
        assert image.shape == (3, 40, 40) and mask.shape == (40, 40) and mask.dtype == torch.int64


def test_missing_voc(tmp_path: Path) -> None:
    data = VOCSegmentationDataModule(str(tmp_path), num_workers=0)
    expected = re.escape(str(tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"))
    with pytest.raises(FileNotFoundError, match=f"{expected}.*expected <root>/VOCdevkit.*download=True"):
        data.prepare_data()
    with pytest.raises(FileNotFoundError, match=expected):
        data.setup("fit")


def test_missing_sbd(roots: tuple[Path, Path], tmp_path: Path) -> None:
    data = VOCSegmentationDataModule(str(roots[0]), str(tmp_path / "nosbd"), num_workers=0)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nosbd" / "dataset" / "img"))):
        data.setup("fit")


def test_missing_listed_image(roots: tuple[Path, Path]) -> None:
    path = roots[0] / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{VOC_VAL[2]}.jpg"  # an id SBD does not have
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        _module(roots).setup("validate")


def test_missing_split_file(roots: tuple[Path, Path]) -> None:
    splits = roots[0] / "VOCdevkit" / "VOC2012" / "ImageSets"
    shutil.rmtree(splits)
    with pytest.raises(FileNotFoundError, match=re.escape(str(splits / "Segmentation" / "train.txt"))):
        _module(roots).setup("fit")


def test_corrupt_image_names_the_file(roots: tuple[Path, Path]) -> None:
    path = roots[0] / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{VOC_VAL[0]}.jpg"
    path.write_bytes(path.read_bytes()[:300])
    data = _module(roots)
    data.setup("validate")
    with pytest.raises(OSError, match=re.escape(str(path))):
        data.val_dataset[0]


def test_bad_mask_label(roots: tuple[Path, Path]) -> None:
    path = roots[0] / "VOCdevkit" / "VOC2012" / "SegmentationClass" / f"{VOC_VAL[0]}.png"
    mask = np.asarray(Image.open(path)).copy()
    mask[0, :3] = [30, 21, 255]
    write_palette_png(mask, path)
    data = _module(roots)
    data.setup("validate")
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*\[21, 30\]"):
        data.val_dataset[0]


def test_without_sbd_the_warning_counts_the_images_found(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_voc(tmp_path)
    data = VOCSegmentationDataModule(str(tmp_path), num_workers=0)
    with caplog.at_level(logging.WARNING, logger="liftpool_lightning"):
        data.setup("fit")
    assert f"training on VOC train ({len(VOC_TRAIN)} images; 1,464 in VOC 2012)" in caplog.text
