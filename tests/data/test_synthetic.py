"""The embedded synthetic shapes: deterministic items, and datasets that pickle into spawned loader workers."""

from __future__ import annotations

import pickle

import torch

from liftpool_lightning.data import SyntheticShapes, SyntheticShapesDataModule


def test_items_depend_only_on_seed_split_and_index() -> None:
    first, second = SyntheticShapes(4, seed=3), SyntheticShapes(4, seed=3)
    torch.testing.assert_close(first[2][0], second[2][0], rtol=0, atol=0)
    assert first[2][1] == second[2][1]
    assert not torch.equal(first[2][0], SyntheticShapes(4, seed=3, split="val")[2][0])


def test_datasets_pickle_for_spawned_workers() -> None:
    """macOS, Windows and some DDP launchers start loader workers with spawn: the dataset must pickle."""
    data = SyntheticShapesDataModule(task="segmentation", num_train=4, num_val=2)
    data.setup("fit")
    for dataset in (data.train_dataset, data.val_dataset):
        image, mask = pickle.loads(pickle.dumps(dataset))[0]
        assert image.shape == (3, 32, 32) and mask.shape == (32, 32)
    torch.testing.assert_close(pickle.loads(pickle.dumps(data.val_dataset))[1][0], data.val_dataset[1][0])
