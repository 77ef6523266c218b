"""A robustness evaluation's numbers as scores, a text table, CSV and JSON files and a bar chart (Figure 9 style)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from liftpool_lightning.callbacks.figures import figure_to_rgb, subplots
from liftpool_lightning.robustness import scores
from liftpool_lightning.robustness.baselines import alexnet_errors


def _int_keys(errors: Mapping[str, Mapping[Any, float]]) -> dict[str, dict[int, float]]:
    return {name: {int(s): float(v) for s, v in by_severity.items()} for name, by_severity in errors.items()}


def summarize(raw: dict[str, Any], baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add the scores to ``raw`` (clean error, per-severity corruption errors, flip probabilities, shift
    consistency): unnormalised CE and its mean; CE/mCE normalised by AlexNet (ImageNet only) and by ``baseline``
    (another run's results), relative CE/mCE by the baseline, FR/mFR by the baseline."""
    errors = _int_keys(raw.get("corruption_errors", {}))
    summary: dict[str, Any] = {}
    if errors:
        unnormalized = scores.unnormalized_corruption_errors(errors)
        summary["unnormalized_ce"] = unnormalized
        summary["mean_unnormalized_ce"] = scores.mean(unnormalized)
        if raw.get("benchmark") == "imagenet":
            ce = scores.corruption_errors(errors, alexnet_errors())
            summary["alexnet_ce"], summary["alexnet_mce"] = ce, scores.mean(ce)
    flips = raw.get("flip_probabilities", {})
    if flips:
        summary["mean_flip_probability"] = scores.mean(flips)
    if baseline is not None:
        summary["baseline"] = baseline.get("name", "baseline")
        base_errors = _int_keys(baseline.get("corruption_errors", {}))
        if errors and base_errors:
            ce = scores.corruption_errors(errors, base_errors)
            summary["baseline_ce"], summary["baseline_mce"] = ce, scores.mean(ce)
            if "clean_error" in baseline and "clean_error" in raw:
                relative = scores.relative_corruption_errors(
                    errors, raw["clean_error"], base_errors, baseline["clean_error"]
                )
                summary["baseline_relative_ce"], summary["baseline_relative_mce"] = relative, scores.mean(relative)
        if flips and baseline.get("flip_probabilities"):
            fr = scores.flip_rates(flips, baseline["flip_probabilities"])
            summary["baseline_fr"], summary["baseline_mfr"] = fr, scores.mean(fr)
    return {**raw, "summary": summary}


def _percent(value: float | None) -> str:
    return "-" if value is None or value != value else f"{100 * value:.1f}"


def format_table(results: dict[str, Any]) -> str:
    """A plain-text table: one row per corruption (errors per severity, CE) and per perturbation, then the means."""
    summary = results.get("summary", {})
    severities = sorted({int(s) for v in results.get("corruption_errors", {}).values() for s in v})
    header = ["", *[f"s{s}" for s in severities], "mean", "CE/AlexNet", "CE/baseline"]
    table = [header]
    for name, by_severity in results.get("corruption_errors", {}).items():
        values = {int(s): v for s, v in by_severity.items()}
        scores_of = [summary.get(key, {}).get(name) for key in ("unnormalized_ce", "alexnet_ce", "baseline_ce")]
        table.append([name, *[_percent(values.get(s)) for s in severities], *[_percent(v) for v in scores_of]])
    lines = [f"top-1 error (%) of {results.get('name', 'the model')} on {results.get('dataset', '?')}:"]
    lines.append(f"clean error {_percent(results.get('clean_error'))}")
    if len(table) > 1:
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines += ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in table]
        lines.append(
            f"mCE unnormalised {_percent(summary.get('mean_unnormalized_ce'))} | mCE/AlexNet "
            f"{_percent(summary.get('alexnet_mce'))} | mCE/baseline {_percent(summary.get('baseline_mce'))} | "
            f"relative mCE/baseline {_percent(summary.get('baseline_relative_mce'))}"
        )
    for name, value in results.get("flip_probabilities", {}).items():
        fr = summary.get("baseline_fr", {}).get(name)
        lines.append(f"flip probability {name}: {_percent(value)}" + (f" (FR/baseline {_percent(fr)})" if fr else ""))
    if "mean_flip_probability" in summary:
        lines.append(
            f"mean flip probability {_percent(summary['mean_flip_probability'])} | mFR/baseline "
            f"{_percent(summary.get('baseline_mfr'))}"
        )
    if "shift_consistency" in results:
        lines.append(f"shift consistency {_percent(results['shift_consistency'])}")
    return "\n".join(lines)


def rows(results: dict[str, Any]) -> list[list[Any]]:
    """Long-format rows ``[kind, name, severity, metric, value]`` of every number (the CSV's content)."""
    out: list[list[Any]] = [["clean", "clean", 0, "error", results.get("clean_error")]]
    for name, by_severity in results.get("corruption_errors", {}).items():
        out += [["corruption", name, int(s), "error", v] for s, v in by_severity.items()]
    for name, value in results.get("flip_probabilities", {}).items():
        out.append(["perturbation", name, 0, "flip_probability", value])
    if "shift_consistency" in results:
        out.append(["shift", "shift", 0, "consistency", results["shift_consistency"]])
    for key, value in results.get("summary", {}).items():
        if isinstance(value, dict):
            out += [["score", name, 0, key, v] for name, v in value.items()]
        elif isinstance(value, float):
            out.append(["score", "all", 0, key, value])
    return out


def _strict(value: Any) -> Any:
    """NaN (an undefined score) as JSON null, so any JSON reader takes the file."""
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


def write_files(results: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """``results.json`` and ``results.csv`` in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / "results.json", folder / "results.csv"
    json_path.write_text(json.dumps(_strict(results), indent=2) + "\n")
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "name", "severity", "metric", "value"])
        writer.writerows(rows(results))
    return json_path, csv_path


def bar_chart(results: dict[str, Any], baseline: dict[str, Any] | None = None) -> np.ndarray | None:
    """Mean error per corruption (and flip probability per perturbation), this run beside the baseline run; None
    when the run has neither (shift consistency alone)."""
    runs = [results] + ([baseline] if baseline else [])
    # (value per name from a run's entry, the entry's key, axis label); each panel reads its own kind of entry
    panels: list[tuple[Callable[[Any], Mapping[str, float]], str, str]] = [
        (scores.unnormalized_corruption_errors, "corruption_errors", "mean top-1 error (%)"),
        (dict, "flip_probabilities", "flip probability (%)"),
    ]
    panels = [panel for panel in panels if results.get(panel[1])]
    if not panels:
        return None
    widest = max(len(results[key]) for _, key, _ in panels)
    figure, axes = subplots(len(panels), 1, (max(6.0, 0.6 * widest), 3.2 * len(panels)))
    for axis, (per_name, key, label) in zip(axes[:, 0], panels, strict=True):
        names = list(results[key])
        width = 0.8 / len(runs)
        for i, run in enumerate(runs):
            values = per_name(_int_keys(run.get(key, {})) if key == "corruption_errors" else run.get(key, {}))
            heights = [100 * values[name] if values.get(name) is not None else np.nan for name in names]
            offsets = np.arange(len(names)) + (i - (len(runs) - 1) / 2) * width
            axis.bar(offsets, heights, width, label=run.get("name", "model" if i == 0 else "baseline"))
        axis.set_xticks(np.arange(len(names)), [n.replace("_", "\n") for n in names], fontsize=7)
        axis.set_ylabel(label)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure_to_rgb(figure)
