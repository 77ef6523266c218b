"""full_pool_options: what a saved model records of its pool, so a later version with other defaults rebuilds the
same layers."""

from __future__ import annotations

import torch

from liftpool_lightning.nn import LiftDownPool2d
from liftpool_lightning.nn.constants import PAPER_OPTIONS
from liftpool_lightning.surgery.factory import full_pool_options


def test_lift_records_every_layer_option_with_this_versions_defaults() -> None:
    options = full_pool_options("lift", {"kernel_size": 3})
    assert options["kernel_size"] == 3
    assert options["bands"] == "low" and options["init"] is None and options["constraint_gradients"] == "operators"
    assert not {"channels", "device", "dtype", "fused", "record_bands", "ceil_mode"} & set(options)
    torch.manual_seed(0)
    given = LiftDownPool2d(4, kernel_size=3)
    torch.manual_seed(0)
    recorded = LiftDownPool2d(4, **options)  # the same layer, parameters included
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(given(x), recorded(x))


def test_lift_paper_records_the_papers_options_under_the_given_ones() -> None:
    options = full_pool_options("lift_paper", {"init": "haar"})
    assert options["init"] == "haar"
    assert all(options[name] == value for name, value in PAPER_OPTIONS.items() if name != "init")


def test_other_pools_keep_what_was_given() -> None:
    assert full_pool_options("blur", {"filter_size": 5}) == {"filter_size": 5}
    assert full_pool_options("max", None) is None
    assert full_pool_options(None, None) is None
