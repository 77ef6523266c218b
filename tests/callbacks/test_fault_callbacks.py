"""RNG states in checkpoints: rows of a gathered tensor restore exactly; malformed states are refused."""

from __future__ import annotations

import io

import pytest
import torch

from liftpool_lightning.callbacks.rng_state import _byte_state


def test_rng_state_saved_as_rows_of_a_gathered_tensor_restores() -> None:
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    rows = list(torch.stack([torch.get_rng_state(), torch.get_rng_state()]))  # views, the second at an offset
    buffer = io.BytesIO()
    torch.save(rows, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert loaded[1].storage_offset() > 0
    torch.manual_seed(99)
    torch.set_rng_state(_byte_state(loaded[1], torch.get_rng_state()))  # a raw set_rng_state(loaded[1]) segfaults
    assert torch.equal(torch.rand(3), expected)


def test_rng_state_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"RNG state has dtype torch\.uint8 and shape \(7,\)"):
        _byte_state(torch.zeros(7, dtype=torch.uint8), torch.get_rng_state())
