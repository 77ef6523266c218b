"""Robustness evaluation as in the paper (Table 5, Figures 4 and 9): corruption errors (ImageNet-C / CIFAR-C,
generated on the fly or read from the official files), flip probabilities on perturbation sequences (ImageNet-P /
CIFAR-P) and shift consistency (Zhang 2019). Run with ``liftpool test --config configs/robustness/...``."""

from liftpool_lightning.robustness.corruptions import CORRUPTIONS, FIDELITY, corrupt
from liftpool_lightning.robustness.datamodule import EvaluationSet, RobustnessDataModule
from liftpool_lightning.robustness.metrics import FlipProbability, ShiftConsistency
from liftpool_lightning.robustness.perturbations import PERTURBATIONS, perturb
from liftpool_lightning.robustness.task import RobustnessTask

__all__ = [
    "CORRUPTIONS",
    "FIDELITY",
    "PERTURBATIONS",
    "EvaluationSet",
    "FlipProbability",
    "RobustnessDataModule",
    "RobustnessTask",
    "ShiftConsistency",
    "corrupt",
    "perturb",
]
