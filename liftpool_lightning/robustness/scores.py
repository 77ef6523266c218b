"""From per-severity errors and flip probabilities to the benchmark scores: CE, mCE, relative mCE, FR, mFR.

Conventions of Hendrycks & Dietterich (2019): the Corruption Error of corruption c is the top-1 error summed over
severities 1-5, divided by the same sum of a baseline network (AlexNet for ImageNet-C, or any run you choose);
mCE is its mean over corruptions. Relative CE subtracts the clean error from each severity's error first. The
Flip Rate divides a flip probability by the baseline's; mFR is the mean over perturbations. Values are fractions
(multiply by 100 for the percentages the papers print). A score whose baseline denominator is not positive (a
baseline without error, or no worse corrupted than clean) is NaN and left out of the means.
"""

from __future__ import annotations

from collections.abc import Mapping


def unnormalized_corruption_errors(errors: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """Mean top-1 error over the severities of each corruption (the 'unnormalised' CE)."""
    return {name: sum(by_severity.values()) / len(by_severity) for name, by_severity in errors.items()}


def corruption_errors(
    errors: Mapping[str, Mapping[int, float]], baseline: Mapping[str, Mapping[int, float] | float]
) -> dict[str, float]:
    """CE per corruption: sum over severities of the errors / the baseline's sum (a mapping per severity, or the
    sum already). Corruptions missing from the baseline are left out (not silently normalised by 1)."""
    scores = {}
    for name, by_severity in errors.items():
        if name not in baseline:
            continue
        reference = baseline[name]
        total = sum(reference.values()) if isinstance(reference, Mapping) else float(reference)
        scores[name] = sum(by_severity.values()) / total if total > 0 else float("nan")
    return scores


def relative_corruption_errors(
    errors: Mapping[str, Mapping[int, float]],
    clean_error: float,
    baseline: Mapping[str, Mapping[int, float]],
    baseline_clean_error: float,
) -> dict[str, float]:
    """Relative CE: sum_s (E_s - E_clean) / sum_s (E_s^base - E_clean^base)."""
    scores = {}
    for name, by_severity in errors.items():
        if name not in baseline:
            continue
        denominator = sum(value - baseline_clean_error for value in baseline[name].values())
        relative = sum(value - clean_error for value in by_severity.values())
        scores[name] = relative / denominator if denominator > 0 else float("nan")
    return scores


def flip_rates(flip_probabilities: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """FR per perturbation: the flip probability / the baseline's (perturbations missing from it are left out)."""
    scores = {}
    for name, value in flip_probabilities.items():
        if name in baseline:
            scores[name] = value / baseline[name] if baseline[name] > 0 else float("nan")
    return scores


def mean(scores: Mapping[str, float]) -> float:
    """The mean over corruptions or perturbations, skipping NaN scores (NaN when none is left)."""
    defined = [value for value in scores.values() if value == value]
    return sum(defined) / len(defined) if defined else float("nan")
