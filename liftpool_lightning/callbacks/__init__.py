"""Lightning callbacks of the framework: sub-band pictures and lifting losses, prediction files."""

from liftpool_lightning.callbacks.prediction_writer import PredictionWriter
from liftpool_lightning.callbacks.subbands import SubbandVisualizer

__all__ = ["PredictionWriter", "SubbandVisualizer"]
