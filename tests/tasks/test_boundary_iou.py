"""Boundary IoU against a brute-force reading of its definition, and what it sees that mean IoU does not."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from liftpool_lightning.tasks.metrics import BoundaryIoU


def _band(mask: torch.Tensor, distance: int) -> torch.Tensor:
    """Pixels of ``mask`` (H, W) with a pixel outside it (inside the image) within chessboard ``distance``."""
    height, width = mask.shape
    band = torch.zeros_like(mask)
    for y in range(height):
        for x in range(width):
            if not mask[y, x]:
                continue
            window = mask[max(0, y - distance) : y + distance + 1, max(0, x - distance) : x + distance + 1]
            band[y, x] = bool((~window).any())
    return band


def _reference(pred: torch.Tensor, target: torch.Tensor, classes: int, distance: int, ignore: int) -> float:
    scores = []
    for label in range(classes):
        inter = union = 0
        for p, t in zip(pred, target, strict=True):
            valid = t != ignore
            truth, guess = _band(t == label, distance) & valid, _band(p == label, distance) & valid
            inter += int((truth & guess).sum())
            union += int((truth | guess).sum())
        if union:
            scores.append(inter / union)
    return sum(scores) / len(scores)


@pytest.mark.parametrize("distance", [1, 2, 3])
def test_matches_the_definition_on_random_masks(distance: int) -> None:
    generator = torch.Generator().manual_seed(distance)
    target = torch.randint(0, 3, (2, 12, 12), generator=generator)
    target = torch.nn.functional.interpolate(target[:, None].float(), scale_factor=2, mode="nearest")[:, 0].long()
    pred = torch.roll(target, shifts=(1, -2), dims=(1, 2))
    target[0, :3, :3] = 255  # ignored pixels
    metric = BoundaryIoU(num_classes=3, distance=distance)
    metric.update(pred[:1], target[:1])  # two updates accumulate like one (and like DDP's sum of states)
    metric.update(pred[1:], target[1:])
    expected = _reference(pred, target, 3, distance, 255)
    assert 0.05 < expected < 0.95
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-6)


def test_perfect_prediction_is_one_and_logits_are_read_as_their_argmax() -> None:
    target = torch.zeros(1, 16, 16, dtype=torch.long)
    target[0, 4:12, 6:9] = 1
    logits = torch.nn.functional.one_hot(target, 2).permute(0, 3, 1, 2).float() * 5
    metric = BoundaryIoU(num_classes=2, distance=2)
    metric.update(logits, target)
    assert float(metric.compute()) == 1.0


def test_a_blurred_edge_costs_boundary_iou_far_more_than_mean_iou() -> None:
    """A large square predicted with its corners rounded and its edge one pixel in: mean IoU barely moves."""
    target = torch.zeros(1, 64, 64, dtype=torch.long)
    target[0, 8:56, 8:56] = 1
    pred = torch.zeros_like(target)
    pred[0, 9:55, 9:55] = 1
    pred[0, 9:12, 9:12] = pred[0, 9:12, 52:55] = pred[0, 52:55, 9:12] = pred[0, 52:55, 52:55] = 0
    miou = MulticlassJaccardIndex(2, average="macro")(pred, target)
    boundary = BoundaryIoU(num_classes=2, distance=2)(pred, target)
    assert float(miou) > 0.85
    assert 1 - float(boundary) > 5 * (1 - float(miou))  # measured: mean IoU 0.896, boundary IoU 0.288


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="distance must be >= 1"):
        BoundaryIoU(num_classes=2, distance=0)
    with pytest.raises(ValueError, match=r"expected predictions .* got \(2, 3\) and \(2, 4, 4\)"):
        BoundaryIoU(num_classes=2).update(torch.zeros(2, 3), torch.zeros(2, 4, 4, dtype=torch.long))
