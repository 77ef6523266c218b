"""Example predictions of a segmentation study side by side: image, ground truth, then each variant's prediction
on the same validation scenes (and the boundary IoU of each variant on them).

    python benchmarks/segmentation_examples.py                          # runs/segmentation, seed 0
    python benchmarks/segmentation_examples.py --study runs/segmentation --seed 1 --num-images 6 \\
        --output docs/figures/segmentation_examples_seed1.png

Each variant's model is its run's latest checkpoint under ``STUDY/runs/VARIANT/seed_SEED`` (as benchmarks/accuracy.py
writes them), rebuilt with ``checkpointing.task_from_checkpoint``; the scenes are the first validation scenes of the
checkpoint's own data options (``SyntheticShapesDataModule``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.accuracy import SEGMENTATION_VARIANTS
from liftpool_lightning.callbacks.figures import display_image, figure_to_rgb, subplots
from liftpool_lightning.checkpointing.build import task_from_checkpoint
from liftpool_lightning.checkpointing.resolve import search_last_checkpoint
from liftpool_lightning.data import SyntheticShapesDataModule
from liftpool_lightning.data.palette import voc_palette
from liftpool_lightning.tasks.metrics import BoundaryIoU


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="runs/segmentation", help="the --output folder of benchmarks/accuracy.py")
    parser.add_argument("--variants", nargs="+", default=SEGMENTATION_VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-images", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64, help="the scenes' size (the config's image_size)")
    parser.add_argument("--output", default="docs/figures/segmentation_examples.png")
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f"--num-images must be >= 1, got {args.num_images}")
    return args


def checkpoint(study: Path, variant: str, seed: int) -> Path:
    """The latest checkpoint of a run (what ``--ckpt_path last`` would resume: the most training steps)."""
    run = study / "runs" / variant / f"seed_{seed}"
    found = search_last_checkpoint([run]).found
    if found is None:
        raise SystemExit(f"{variant}: no checkpoint under {run}")
    return found


@torch.no_grad()
def predictions(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], int]:
    data = SyntheticShapesDataModule(task="segmentation", image_size=args.image_size, num_val=args.num_images)
    data.setup("validate")
    items = [data.val_dataset[i] for i in range(args.num_images)]
    images = torch.stack([image for image, _ in items])
    masks = torch.stack([torch.as_tensor(mask) for _, mask in items])
    predicted, classes = {}, data.num_classes
    for variant in args.variants:
        task = task_from_checkpoint(checkpoint(Path(args.study), variant, args.seed)).eval()
        predicted[variant] = task.network(images).argmax(1)
        classes = max(classes, int(task.hparams["num_classes"]))
    return images, masks, predicted, classes


def draw(images: torch.Tensor, masks: torch.Tensor, predicted: dict[str, torch.Tensor], classes: int, title: str):
    """The grid as an RGB array: one row per scene; image, truth, one column per variant (its boundary IoU on
    these scenes in the column title)."""
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([tuple(c / 255 for c in voc_palette()[i : i + 3]) for i in range(0, 768, 3)])
    columns = ["image", "ground truth", *predicted]
    scores = {}
    for variant, labels in predicted.items():
        scores[variant] = float(BoundaryIoU(num_classes=classes)(labels, masks))
    figure, axes = subplots(len(images), len(columns), (1.6 * len(columns), 1.6 * len(images) + 0.5))
    for row in range(len(images)):
        panels = [display_image(images[row]), masks[row], *(labels[row] for labels in predicted.values())]
        for col, panel in enumerate(panels):
            axis = axes[row, col]
            if col == 0:
                axis.imshow(panel)
            else:
                axis.imshow(panel.numpy(), cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                name = columns[col]
                axis.set_title(name + (f"\nboundary IoU {100 * scores[name]:.0f}" if name in scores else ""),
                               fontsize=7)  # fmt: skip
    figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    return figure_to_rgb(figure)


def main(argv: list[str] | None = None) -> Path:
    from PIL import Image

    args = parse_args(argv)
    images, masks, predicted, classes = predictions(args)
    title = f"validation scenes, seed {args.seed} models ({args.study})"
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw(images, masks, predicted, classes, title)).save(output)
    print(f"wrote {output}")
    return output


if __name__ == "__main__":
    main()
