"""liftpool-lightning: LiftPool (Zhao & Snoek, ICLR 2021) layers and a Lightning training framework around them.

The layers are pure torch and importing the package imports nothing else::

    from liftpool_lightning import LiftDownPool2d, LiftUpPool2d, lifting_loss
"""

from liftpool_lightning.nn import (
    LiftDownPool1d,
    LiftDownPool2d,
    LiftDownPool3d,
    LiftDownPoolNd,
    LiftingLosses,
    LiftUpPool1d,
    LiftUpPool2d,
    LiftUpPool3d,
    LiftUpPoolNd,
    Subbands,
    lifting_loss,
    lifting_losses,
)
from liftpool_lightning.surgery import SurgeryReport, replace_pooling

__version__ = "0.1.0"

__all__ = [
    "LiftDownPool1d",
    "LiftDownPool2d",
    "LiftDownPool3d",
    "LiftDownPoolNd",
    "LiftUpPool1d",
    "LiftUpPool2d",
    "LiftUpPool3d",
    "LiftUpPoolNd",
    "LiftingLosses",
    "Subbands",
    "SurgeryReport",
    "__version__",
    "lifting_loss",
    "lifting_losses",
    "replace_pooling",
]
