"""Lightning callbacks of the framework: sub-band pictures and lifting losses, prediction files, and the fault
handling the CLI adds to every run (preemption checkpoint, RNG states, NaN stop, a checkpoint on a bad sample, no
empty run folder left by a failed run)."""

from liftpool_lightning.callbacks.data_error import DataErrorCheckpoint
from liftpool_lightning.callbacks.epoch_metrics import EpochMetricState
from liftpool_lightning.callbacks.experiment_identity import ExperimentIdentity
from liftpool_lightning.callbacks.finite_loss import NonFiniteLossError, StopOnNonFiniteLoss
from liftpool_lightning.callbacks.prediction_writer import PredictionWriter
from liftpool_lightning.callbacks.preemption import PreemptionCheckpoint
from liftpool_lightning.callbacks.rng_state import RNGStateCheckpoint
from liftpool_lightning.callbacks.subbands import SubbandVisualizer
from liftpool_lightning.callbacks.unused_run_folder import RemoveUnusedRunFolder

__all__ = [
    "DataErrorCheckpoint",
    "EpochMetricState",
    "ExperimentIdentity",
    "NonFiniteLossError",
    "PredictionWriter",
    "PreemptionCheckpoint",
    "RNGStateCheckpoint",
    "RemoveUnusedRunFolder",
    "StopOnNonFiniteLoss",
    "SubbandVisualizer",
]
