"""LiftPool layers in pure torch: LiftDownPool / LiftUpPool in 1D, 2D and 3D, and their constraint losses.

Nothing here imports Lightning; ``from liftpool_lightning.nn import LiftDownPool2d`` needs torch alone.
"""

from liftpool_lightning.nn.constants import ConstraintGradients, LiftingScheme, MissingDetails, PaddingMode, band_names
from liftpool_lightning.nn.losses import lifting_loss, lifting_losses, liftpool_layers
from liftpool_lightning.nn.operators import LearnedLiftingOperator, StencilOperator
from liftpool_lightning.nn.pool import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d, LiftDownPoolNd
from liftpool_lightning.nn.subbands import LiftingLosses, Subbands
from liftpool_lightning.nn.up_pool import LiftUpPool1d, LiftUpPool2d, LiftUpPool3d, LiftUpPoolNd

__all__ = [
    "ConstraintGradients",
    "LearnedLiftingOperator",
    "LiftDownPool1d",
    "LiftDownPool2d",
    "LiftDownPool3d",
    "LiftDownPoolNd",
    "LiftUpPool1d",
    "LiftUpPool2d",
    "LiftUpPool3d",
    "LiftUpPoolNd",
    "LiftingLosses",
    "LiftingScheme",
    "MissingDetails",
    "PaddingMode",
    "StencilOperator",
    "Subbands",
    "band_names",
    "lifting_loss",
    "lifting_losses",
    "liftpool_layers",
]
