"""The official on-disk formats (CIFAR-C, CIFAR-P, ImageNet-C), written tiny here, load into the right sets; bad
layouts fail naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from liftpool_lightning.robustness.datamodule import EvaluationSet, RobustnessDataModule
from liftpool_lightning.robustness.datasets import CIFARCorruptionFile, CIFARPerturbationFile, ShiftedPairs
from tests.data.cifar100 import make_cifar100
from tests.data.imagenet import CLASSES, make_imagenet


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def write_cifar_c(root: Path, names: tuple[str, ...], count: int) -> Path:
    """CIFAR-C layout: <name>.npy (5 x count, 32, 32, 3) uint8, severity-major; labels.npy (5 x count,)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        values = np.array([10 * s + i for s in range(1, 6) for i in range(count)], dtype=np.uint8)
        np.save(root / f"{name}.npy", np.broadcast_to(values[:, None, None, None], (5 * count, 32, 32, 3)).copy())
    np.save(root / "labels.npy", np.tile(np.arange(count, dtype=np.uint8), 5))
    return root


def test_cifar_c_severities_are_consecutive_blocks(tmp_path: Path) -> None:
    root = write_cifar_c(tmp_path, ("fog",), 4)
    dataset = CIFARCorruptionFile(root, "fog", 3, identity)
    assert len(dataset) == 4
    image, label = dataset[2]
    assert image.shape == (3, 32, 32) and round(image[0, 0, 0].item() * 255) == 32 and label == 2


def test_cifar_c_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"fog\.npy does not exist: expected the CIFAR-C layout"):
        CIFARCorruptionFile(tmp_path, "fog", 1, identity)
    np.save(tmp_path / "fog.npy", np.zeros((7, 32, 32, 3), dtype=np.uint8))
    np.save(tmp_path / "labels.npy", np.zeros(7, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"fog\.npy holds uint8 \(7, 32, 32, 3\); expected uint8 \(5 x N"):
        CIFARCorruptionFile(tmp_path, "fog", 1, identity)
    write_cifar_c(tmp_path, ("fog",), 2)
    np.save(tmp_path / "labels.npy", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels\.npy has 3 labels but .*fog\.npy has 10 images"):
        CIFARCorruptionFile(tmp_path, "fog", 1, identity)


def test_cifar_p_sequences(tmp_path: Path) -> None:
    sequences = np.random.default_rng(0).integers(0, 256, (3, 31, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "rotate.npy", sequences)
    dataset = CIFARPerturbationFile(tmp_path, "rotate", [5, 6, 7], identity)
    frames, label = dataset[1]
    assert frames.shape == (31, 3, 32, 32) and label == 6
    assert torch.equal(frames[4].permute(1, 2, 0), torch.from_numpy(sequences[1, 4]).float() / 255)


def test_cifar100_with_official_files_plans_and_loads_every_set(tmp_path: Path) -> None:
    make_cifar100(tmp_path / "cifar", num_test=6)
    corruptions = write_cifar_c(tmp_path / "CIFAR-100-C", ("fog", "contrast"), 6)
    (tmp_path / "CIFAR-100-P").mkdir()
    np.save(tmp_path / "CIFAR-100-P" / "translate.npy", np.zeros((6, 16, 32, 32, 3), np.uint8))
    data = RobustnessDataModule(
        "cifar100", root=str(tmp_path / "cifar"), corruption_root=str(corruptions), severities=[1, 5],
        perturbation_root=str(tmp_path / "CIFAR-100-P"), batch_size=4,
    )  # fmt: skip
    assert data.corruptions == ["contrast", "fog"] and data.perturbations == ["translate"]
    assert data.test_sets == [
        EvaluationSet("clean"), EvaluationSet("corruption", "contrast", 1), EvaluationSet("corruption", "contrast", 5),
        EvaluationSet("corruption", "fog", 1), EvaluationSet("corruption", "fog", 5),
        EvaluationSet("perturbation", "translate"), EvaluationSet("shift", "shift"),
    ]  # fmt: skip
    data.setup("test")
    loaders = data.test_dataloader()
    assert [len(loader.dataset) for loader in loaders] == [6] * 7
    frames, _ = next(iter(loaders[5]))
    assert frames.shape == (4, 16, 3, 32, 32)
    first, second, _ = next(iter(loaders[6]))
    assert first.shape == second.shape == (4, 3, 32, 32)
    subset = RobustnessDataModule("cifar100", root=str(tmp_path / "cifar"), corruptions=[], num_images=3,
                                  perturbation_root=str(tmp_path / "CIFAR-100-P"), batch_size=4)  # fmt: skip
    subset.setup("test")  # labels come from the whole test split, the sequences are cut to num_images
    assert [len(loader.dataset) for loader in subset.test_dataloader()] == [3, 3, 3]
    with pytest.raises(FileNotFoundError, match=r"corruptions \['snow'\] not found under"):
        RobustnessDataModule("cifar100", root=str(tmp_path / "cifar"), corruption_root=str(corruptions),
                             corruptions=["snow"])  # fmt: skip


def test_imagenet_c_folders_and_crop_shift_protocol(tmp_path: Path) -> None:
    clean = make_imagenet(tmp_path / "imagenet", per_class=(1, 2))
    for severity in (1, 2):
        shutil.copytree(clean / "val", tmp_path / "ImageNet-C" / "fog" / str(severity))
    data = RobustnessDataModule("imagenet", root=str(clean), corruption_root=str(tmp_path / "ImageNet-C"),
                                severities=[1, 2], perturbations=[], batch_size=3)  # fmt: skip
    assert data.num_classes == len(CLASSES) and data.shift_protocol == "crop"
    data.setup("test")
    loaders = data.test_dataloader()
    images, _ = next(iter(loaders[1]))
    assert images.shape == (3, 3, 224, 224) and len(loaders[1].dataset) == 6
    first, second, _ = next(iter(loaders[-1]))
    assert first.shape == second.shape == (3, 3, 224, 224)
    shutil.rmtree(tmp_path / "ImageNet-C" / "fog" / "2" / CLASSES[0])
    with pytest.raises(ValueError, match=r"fog/2 has 2 class folders, the clean val set 3"):
        data.setup("test")


def test_crop_pairs_stay_inside_and_differ() -> None:
    rows, columns = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    base = [((1000 * rows + columns).expand(3, 256, 256).clone(), 0)]  # each pixel names its row and column
    offsets = set()
    for seed in range(8):
        first, second, _ = ShiftedPairs(base, identity, "crop", crop_size=224, seed=seed)[0]
        assert first.shape == second.shape == (3, 224, 224) and not torch.equal(first, second)
        for view in (first, second):
            dy, dx = divmod(int(view[0, 0, 0].item()), 1000)
            assert 0 <= dy <= 32 and 0 <= dx <= 32  # the crop starts inside the 256 - 224 margin
            assert torch.equal(view[0], base[0][0][0, dy : dy + 224, dx : dx + 224])
            offsets.add((dy > 0, dx > 0))
    assert (True, True) in offsets  # rows and columns both move


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="needs root"):
        RobustnessDataModule("cifar100")
    with pytest.raises(ValueError, match=r"severities must be values in 1-5"):
        RobustnessDataModule(severities=[0, 1])
    with pytest.raises(ValueError, match=r"corruptions \['frost'\] cannot be generated on the fly"):
        RobustnessDataModule(corruptions=["frost"])


def write_video(path: Path, frames: np.ndarray) -> None:
    """An .mp4 like ImageNet-P's (lossless-enough MPEG-4 here; the reader does not care about the codec)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"qscale": "1"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def test_imagenet_p_videos(tmp_path: Path) -> None:
    clean = make_imagenet(tmp_path / "imagenet", per_class=(1, 1))
    levels = np.linspace(20, 230, 31).astype(np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (31, 32, 48, 3)).copy()  # flat frames, brighter each time
    for wnid in CLASSES:
        write_video(tmp_path / "ImageNet-P" / "brightness" / wnid / f"{wnid}_0.mp4", frames)
    data = RobustnessDataModule("imagenet", root=str(clean), corruptions=[], perturbation_root=str(tmp_path /
                                "ImageNet-P"), shift_consistency=False, batch_size=2)  # fmt: skip
    assert data.perturbations == ["brightness"]
    data.setup("test")
    sequences, labels = next(iter(data.test_dataloader()[1]))
    assert sequences.shape == (2, 31, 3, 32, 48) and labels.tolist() == [0, 1]
    mean, std = 0.485, 0.229  # red channel normalisation
    decoded = sequences[0, :, 0].mean(dim=(-2, -1)) * std + mean
    assert torch.allclose(decoded * 255, torch.from_numpy(levels).float(), atol=6)  # lossy YUV video coding
    (tmp_path / "ImageNet-P" / "brightness" / CLASSES[0] / f"{CLASSES[0]}_0.mp4").write_bytes(b"not a video")
    data.setup("test")
    with pytest.raises(OSError, match=r"cannot decode video .*_0\.mp4"):
        next(iter(data.test_dataloader()[1]))
