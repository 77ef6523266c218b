"""Lightning callbacks of the framework."""

from liftpool_lightning.callbacks.prediction_writer import PredictionWriter

__all__ = ["PredictionWriter"]
