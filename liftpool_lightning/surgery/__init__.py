"""Model surgery: swap the pooling of any nn.Module for LiftPool or a baseline pool, keeping shapes and weights."""

from liftpool_lightning.surgery.factory import DOWN_POOLS, UP_POOLS, PoolSpec
from liftpool_lightning.surgery.replace import replace_pooling
from liftpool_lightning.surgery.report import Replacement, SurgeryReport
from liftpool_lightning.surgery.wrappers import (
    ConvThenPool,
    InterpolateUnpool,
    LiftDownPoolWithIndices,
    LiftUnpool,
    MaxBlurPoolWithIndices,
    MaxUnpoolBlur,
)

__all__ = [
    "DOWN_POOLS",
    "UP_POOLS",
    "ConvThenPool",
    "InterpolateUnpool",
    "LiftDownPoolWithIndices",
    "LiftUnpool",
    "MaxBlurPoolWithIndices",
    "MaxUnpoolBlur",
    "PoolSpec",
    "Replacement",
    "SurgeryReport",
    "replace_pooling",
]
