"""CE, mCE, relative CE and FR from hand-made errors; AlexNet's own errors give CE = 1."""

from __future__ import annotations

import math

import pytest

from liftpool_lightning.robustness import scores
from liftpool_lightning.robustness.baselines import alexnet_errors
from liftpool_lightning.robustness.report import summarize


def test_corruption_errors_by_hand() -> None:
    errors = {"fog": {1: 0.2, 2: 0.4}, "contrast": {1: 0.5, 2: 0.5}}
    baseline = {"fog": {1: 0.4, 2: 0.8}, "contrast": 2.0}  # per severity, or the sum already
    ce = scores.corruption_errors(errors, baseline)
    assert ce == pytest.approx({"fog": 0.5, "contrast": 0.5})
    assert scores.mean(ce) == pytest.approx(0.5)
    assert scores.unnormalized_corruption_errors(errors) == pytest.approx({"fog": 0.3, "contrast": 0.5})
    relative = scores.relative_corruption_errors(errors, 0.1, {"fog": {1: 0.4, 2: 0.8}}, 0.2)
    assert relative == pytest.approx({"fog": (0.1 + 0.3) / (0.2 + 0.6)})
    assert scores.flip_rates({"translate": 0.02, "rotate": 0.1}, {"translate": 0.04}) == pytest.approx(
        {"translate": 0.5}
    )
    assert math.isnan(scores.mean({}))
    undefined = scores.corruption_errors(errors, {"fog": {1: 0.0}, "contrast": 2.0})  # a baseline without error
    assert math.isnan(undefined["fog"]) and scores.mean(undefined) == pytest.approx(0.5)  # NaN left out of the mean
    assert math.isnan(scores.relative_corruption_errors(errors, 0.1, {"fog": {1: 0.2, 2: 0.2}}, 0.2)["fog"])


def test_alexnet_normalisation_of_alexnet_is_one_and_of_resnet50_is_plausible() -> None:
    alexnet = alexnet_errors()
    summary = summarize({"benchmark": "imagenet", "corruption_errors": alexnet})["summary"]
    assert summary["alexnet_mce"] == pytest.approx(1.0)
    assert len(summary["alexnet_ce"]) == 19
    halved = {name: {s: e / 2 for s, e in by.items()} for name, by in alexnet.items()}
    assert summarize({"benchmark": "imagenet", "corruption_errors": halved})["summary"]["alexnet_mce"] == (
        pytest.approx(0.5)
    )
    cifar = summarize({"benchmark": "cifar", "corruption_errors": halved})["summary"]
    assert "alexnet_mce" not in cifar  # AlexNet's numbers are ImageNet's only


def test_summary_against_a_baseline_run() -> None:
    run = {"clean_error": 0.1, "corruption_errors": {"fog": {1: 0.3}}, "flip_probabilities": {"rotate": 0.02}}
    base = {"name": "max", "clean_error": 0.1, "corruption_errors": {"fog": {1: 0.6}},
            "flip_probabilities": {"rotate": 0.04}}  # fmt: skip
    summary = summarize(run, base)["summary"]
    assert summary["baseline"] == "max"
    assert summary["baseline_mce"] == pytest.approx(0.5)
    assert summary["baseline_relative_mce"] == pytest.approx(0.2 / 0.5)
    assert summary["baseline_mfr"] == pytest.approx(0.5)
