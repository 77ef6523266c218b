"""``RobustnessTask``: evaluate a trained classification checkpoint on the sets of a ``RobustnessDataModule``
with ``liftpool test`` (any Trainer: CPU, GPU, DDP), then print and save the scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import torch
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy

from liftpool_lightning.callbacks.image_logging import log_image, output_dir
from liftpool_lightning.callbacks.trainer_attributes import runtime_attributes
from liftpool_lightning.checkpointing import check_checkpoint_file
from liftpool_lightning.checkpointing.build import network_from_checkpoint
from liftpool_lightning.robustness.datamodule import EvaluationSet
from liftpool_lightning.robustness.metrics import FlipProbability, ShiftConsistency
from liftpool_lightning.robustness.perturbations import compares_with_first_frame
from liftpool_lightning.robustness.report import bar_chart, format_table, summarize, write_files


class RobustnessTask(LightningModule):
    """Robustness of a trained ``ClassificationTask`` checkpoint: clean and corrupted top-1 error, flip
    probabilities on perturbation sequences, shift consistency; all torchmetrics, reduced across DDP ranks.

    At the end of ``test`` it prints a table, writes ``results.json`` and ``results.csv`` and a bar chart under
    ``<run log dir>/robustness`` (or ``output_dir``), logs the summary scores (``robustness/...``) and the chart to
    the active loggers.

    Args:
        checkpoint: the ``liftpool fit`` checkpoint to evaluate (read with weights_only=True).
        num_classes: classes of the data (the CLI links it from the data module); must match the checkpoint.
        name: the run's name in tables and charts (default: ``<network> <pool>`` from the checkpoint).
        baseline: ``results.json`` of another evaluation (e.g. the max-pool model) to normalise CE, relative CE
            and FR by, and to draw beside this one.
        output_dir: folder for the result files (default: the run's log dir + ``/robustness``).
        frames_per_forward: perturbation frames per network call.
    """

    def __init__(
        self,
        checkpoint: str,
        num_classes: int | None = None,
        name: str | None = None,
        baseline: str | None = None,
        output_dir: str | None = None,
        frames_per_forward: int = 128,
    ) -> None:
        super().__init__()
        content = check_checkpoint_file(checkpoint)
        hparams = content.get("hyper_parameters", {})
        if not isinstance(hparams.get("network"), str) or "num_classes" not in hparams:
            raise ValueError(
                f"{checkpoint} holds no registered network name and class count in its hyperparameters (a liftpool"
                " classification checkpoint of a registry network is needed)"
            )
        if num_classes is not None and hparams.get("num_classes") != num_classes:
            raise ValueError(
                f"{checkpoint} predicts {hparams.get('num_classes')} classes, the evaluation data has {num_classes}"
            )
        self.baseline_results = self._read_baseline(baseline)
        self.network: nn.Module = network_from_checkpoint(content, checkpoint)
        self.num_classes = int(hparams["num_classes"])
        self.run_name = name or f"{hparams['network']} {hparams.get('pool') or 'as published'}"
        if frames_per_forward < 1:
            raise ValueError(f"frames_per_forward must be >= 1, got {frames_per_forward}")
        self.checkpoint, self.output_folder, self.frames_per_forward = checkpoint, output_dir, frames_per_forward
        self.sets: list[EvaluationSet] = []
        self.set_metrics = nn.ModuleList()
        self.results: dict[str, Any] | None = None

    @staticmethod
    def _read_baseline(path: str | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            results = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"baseline results {path} do not exist") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"baseline results {path} are not valid JSON: {error}") from None
        if not isinstance(results, dict) or not ({"corruption_errors", "flip_probabilities"} & set(results)):
            raise ValueError(f"{path} holds no corruption errors or flip probabilities (a liftpool results.json?)")
        return results

    def setup(self, stage: str) -> None:
        datamodule: Any = runtime_attributes(self.trainer).datamodule  # a RobustnessDataModule, by its attributes
        sets = getattr(datamodule, "test_sets", None)
        if sets is None:
            raise TypeError(f"RobustnessTask needs a RobustnessDataModule, got {type(datamodule).__name__}")
        if datamodule.num_classes != self.num_classes:
            raise ValueError(
                f"the checkpoint predicts {self.num_classes} classes, the data has {datamodule.num_classes}"
            )
        self.sets = list(sets)
        self.set_metrics = nn.ModuleList([self._metric(spec) for spec in self.sets])

    def _metric(self, spec: EvaluationSet) -> Metric:
        if spec.kind == "perturbation":
            return FlipProbability("first" if compares_with_first_frame(spec.name) else "previous")
        if spec.kind == "shift":
            return ShiftConsistency()
        return MulticlassAccuracy(self.num_classes, average="micro")

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        spec, metric = self.sets[dataloader_idx], cast(Metric, self.set_metrics[dataloader_idx])
        if spec.kind == "shift":
            first, second, _ = batch
            metric.update(self(first), self(second))
        elif spec.kind == "perturbation":
            frames, _ = batch
            flat = frames.flatten(0, 1)  # sequences x frames images: forwarded in chunks (large batches are slow)
            logits = torch.cat([self(chunk) for chunk in flat.split(self.frames_per_forward)])
            metric.update(logits.view(*frames.shape[:2], -1))
        else:
            images, labels = batch
            metric.update(self(images), labels)

    def on_test_epoch_end(self) -> None:
        metrics = [cast(Metric, metric) for metric in self.set_metrics]
        values = [float(metric.compute()) for metric in metrics]  # synchronised across ranks
        for metric in metrics:
            metric.reset()
        datamodule = runtime_attributes(self.trainer).datamodule
        raw: dict[str, Any] = {
            "name": self.run_name, "checkpoint": str(self.checkpoint),
            "dataset": getattr(datamodule, "dataset", None),
            "benchmark": getattr(datamodule, "benchmark", None),
            "corruption_errors": {}, "flip_probabilities": {},
        }  # fmt: skip
        for spec, value in zip(self.sets, values, strict=True):
            if spec.kind == "clean":
                raw["clean_error"] = 1 - value
            elif spec.kind == "corruption":
                raw["corruption_errors"].setdefault(spec.name, {})[spec.severity] = 1 - value
            elif spec.kind == "perturbation":
                raw["flip_probabilities"][spec.name] = value
            else:
                raw["shift_consistency"] = value
        self.results = summarize(raw, self.baseline_results)
        summary = self.results["summary"]
        scalars = {"robustness/clean_error": raw.get("clean_error"), "robustness/shift_consistency":
                   raw.get("shift_consistency")}  # fmt: skip
        for key in ("mean_unnormalized_ce", "alexnet_mce", "baseline_mce", "baseline_relative_mce",
                    "mean_flip_probability", "baseline_mfr"):  # fmt: skip
            scalars[f"robustness/{key}"] = summary.get(key)
        self._report({key: float(value) for key, value in scalars.items() if value is not None})

    @rank_zero_only
    def _report(self, scalars: dict[str, float]) -> None:
        """Files, table, chart and the summary scalars (logged here, once: ``self.log`` would repeat them for each
        of the many test dataloaders)."""
        assert self.results is not None
        for logger in self.trainer.loggers:
            logger.log_metrics(scalars, step=self.trainer.global_step)
        folder = Path(self.output_folder) if self.output_folder else output_dir(self.trainer).parent / "robustness"
        json_path, csv_path = write_files(self.results, folder)
        print(format_table(self.results))
        written = [json_path, csv_path]
        chart = bar_chart(self.results, self.baseline_results)
        if chart is not None:
            written.append(log_image(self.trainer, "robustness/errors", chart, self.trainer.global_step, self.run_name))
        print(f"robustness results: {', '.join(map(str, written))}")

    def configure_optimizers(self) -> None:
        return None
