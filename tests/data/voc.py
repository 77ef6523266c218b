"""Tiny PASCAL VOC 2012 and SBD trees in the official layouts, with ids chosen to exercise the trainaug rule.

VOC: ``VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette), ImageSets/Segmentation/*.txt}``.
SBD: ``dataset/{img/<id>.jpg, cls/<id>.mat (struct GTcls: Segmentation, Boundaries, CategoriesPresent), *.txt}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import sparse
from scipy.io import savemat

from liftpool_lightning.data.palette import voc_palette

VOC_TRAIN = ("2007_000032", "2007_000039", "2007_000063", "2008_000008")
VOC_VAL = ("2007_000033", "2007_000042", "2007_000061", "2009_000001")
# SBD train/val overlap VOC train and VOC val, as in the real release; the new ids have only SBD masks.
SBD_TRAIN = ("2007_000032", "2007_000033", "2008_000100", "2008_000101", "2008_000102")
SBD_VAL = ("2007_000039", "2007_000042", "2010_000200", "2010_000201")
TRAINAUG = sorted((set(VOC_TRAIN) | set(SBD_TRAIN) | set(SBD_VAL)) - set(VOC_VAL))
SIZES = ((48, 64), (32, 32), (40, 56))  # (height, width), cycled over the ids


def _scene(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic image and label map for ``name``: a labelled rectangle on background, 255 on its border."""
    seed = int(name.replace("_", ""))
    rng = np.random.default_rng(seed)
    height, width = SIZES[seed % len(SIZES)]
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), dtype=np.uint8)
    top, left = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
    mask[top : top + height // 3, left : left + width // 3] = 1 + seed % 20
    mask[top, left : left + width // 3] = 255
    return image, mask


def write_palette_png(mask: np.ndarray, path: Path) -> None:
    """Save a label map as a VOC palette PNG (mode ``P``)."""
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), np.ascontiguousarray(mask, np.uint8).tobytes())
    image.putpalette(voc_palette())
    image.save(path)


def write_sbd_mat(segmentation: np.ndarray, path: Path) -> None:
    """Save a label map as an SBD ``cls`` .mat: struct ``GTcls`` with ``Segmentation``, ``Boundaries``, categories."""
    boundaries = np.empty((20, 1), dtype=object)
    edges = np.zeros_like(segmentation, dtype=bool)
    edges[:-1] |= segmentation[:-1] != segmentation[1:]
    for k in range(20):
        boundaries[k, 0] = sparse.csc_matrix(edges & (segmentation == k + 1))
    present = np.array([[k] for k in np.unique(segmentation) if 0 < k < 21], dtype=np.uint8).reshape(-1, 1)
    gtcls = {"Segmentation": segmentation, "Boundaries": boundaries, "CategoriesPresent": present}
    savemat(path, {"GTcls": gtcls}, do_compression=True)


def make_voc(root: Path) -> Path:
    """Write ``<root>/VOCdevkit/VOC2012`` with VOC_TRAIN and VOC_VAL; return the VOC2012 folder."""
    voc = Path(root) / "VOCdevkit" / "VOC2012"
    splits = voc / "ImageSets" / "Segmentation"
    for folder in (voc / "JPEGImages", voc / "SegmentationClass", splits):
        folder.mkdir(parents=True, exist_ok=True)
    # Real VOC 2012 JPEGImages also holds the SBD-only images; here they are left out, so SBD's img/ is read for them.
    for name in VOC_TRAIN + VOC_VAL:
        image, _ = _scene(name)
        Image.fromarray(image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
    for name in VOC_TRAIN + VOC_VAL:
        write_palette_png(_scene(name)[1], voc / "SegmentationClass" / f"{name}.png")
    for split, names in (("train", VOC_TRAIN), ("val", VOC_VAL), ("trainval", sorted(VOC_TRAIN + VOC_VAL))):
        (splits / f"{split}.txt").write_text("".join(f"{name}\n" for name in names))
    return voc


def make_sbd(root: Path) -> Path:
    """Write ``<root>/dataset`` with SBD_TRAIN and SBD_VAL; masks differ from VOC's (label + 1) to tell them apart."""
    dataset = Path(root) / "dataset"
    for folder in (dataset / "img", dataset / "cls", dataset / "inst"):
        folder.mkdir(parents=True, exist_ok=True)
    for name in SBD_TRAIN + SBD_VAL:
        image, mask = _scene(name)
        Image.fromarray(image).save(dataset / "img" / f"{name}.jpg", quality=95)
        sbd_mask = np.where(mask == 255, 0, mask)  # SBD has no void label
        sbd_mask = np.where(sbd_mask > 0, sbd_mask % 20 + 1, 0).astype(np.uint8)  # differs from the VOC PNG
        write_sbd_mat(sbd_mask, dataset / "cls" / f"{name}.mat")
    for split, names in (("train", SBD_TRAIN), ("val", SBD_VAL)):
        (dataset / f"{split}.txt").write_text("".join(f"{name}\n" for name in names))
    return dataset
