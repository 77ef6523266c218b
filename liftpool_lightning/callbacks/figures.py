"""Render LiftPool pictures as RGB arrays with matplotlib (Agg, no display): sub-band grids (paper Fig. 3/7),
reconstructions (Fig. 1) and segmentation predictions (Fig. 5).

Uses matplotlib's object API with an Agg canvas: no pyplot, no global backend change, no display needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from torch import Tensor

from liftpool_lightning.data.palette import voc_palette

DETAIL_CMAP = "RdBu_r"  # signed detail bands: blue negative, red positive, white zero
LOW_CMAP = "gray"


def subplots(rows: int, columns: int, size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure on its own Agg canvas and a (rows, columns) array of axes."""
    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def figure_to_rgb(figure: Figure) -> np.ndarray:
    """The drawn figure as an RGB uint8 array (H, W, 3)."""
    canvas = cast(FigureCanvasAgg, figure.canvas)  # the canvas ``subplots`` attaches
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def display_image(image: Tensor) -> np.ndarray:
    """A normalised (3, H, W) or (1, H, W) tensor as an (H, W, 3) float array in [0, 1] (min-max per image)."""
    image = image.detach().float().cpu()
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    image = image[:3]
    low, high = image.min(), image.max()
    return ((image - low) / (high - low + 1e-8)).permute(1, 2, 0).numpy()


def subband_figure(
    images: Tensor,
    features: Tensor,
    bands: Mapping[str, Tensor],
    channels: Sequence[int],
    title: str,
    maxpool: Tensor | None = None,
) -> np.ndarray:
    """Grid: one row per (image, channel); columns input image, the layer's input channel, its sub-bands and,
    when given, what MaxPool makes of it. Each band column shares one colour scale over all rows (symmetric for
    the signed detail bands), so rows compare."""
    names = list(bands)
    columns = ["image", "layer input", *[n.upper() for n in names]] + (["MaxPool"] if maxpool is not None else [])
    rows = [(i, c) for i in range(len(images)) for c in channels if c < features.shape[1]]
    scales: dict[str, tuple[float, float]] = {}
    for name in names:
        values = torch.stack([bands[name][i, c] for i, c in rows]).float()
        if name.strip("l"):  # detail band: symmetric around 0
            bound = float(values.abs().max()) or 1.0
            scales[name] = (-bound, bound)
        else:
            scales[name] = (float(values.min()), float(values.max()))
    figure, axes = subplots(len(rows), len(columns), (1.6 * len(columns), 1.6 * len(rows) + 0.6))
    for r, (i, c) in enumerate(rows):
        panels: list[tuple[np.ndarray, str, tuple[float, float] | None]] = [
            (display_image(images[i]), "", None),
            (features[i, c].float().cpu().numpy(), LOW_CMAP, None),
        ]
        panels += [(bands[n][i, c].float().cpu().numpy(), DETAIL_CMAP if n.strip("l") else LOW_CMAP, scales[n])
                   for n in names]  # fmt: skip
        if maxpool is not None:
            panels.append((maxpool[i, c].float().cpu().numpy(), LOW_CMAP, None))
        for col, (array, cmap, scale) in enumerate(panels):
            axis = axes[r, col]
            kwargs = {"vmin": scale[0], "vmax": scale[1]} if scale else {}
            axis.imshow(array, cmap=cmap or None, interpolation="nearest", **kwargs)
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(columns[col], fontsize=8)
            if col == 0:
                axis.set_ylabel(f"img {i} ch {c}", fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure_to_rgb(figure)


def reconstruction_figure(features: Tensor, lift: Tensor, maxunpool: Tensor, channel: int, title: str) -> np.ndarray:
    """Paper Fig. 1: a feature map, LiftUpPool's reconstruction from LL + details, MaxUnpool's sparse one."""
    figure, axes = subplots(len(features), 3, (5.4, 1.8 * len(features) + 0.6))
    for i in range(len(features)):
        for col, (array, name) in enumerate(((features, "input"), (lift, "LiftUpPool"), (maxunpool, "MaxUnpool"))):
            axes[i, col].imshow(array[i, channel].float().cpu().numpy(), cmap=LOW_CMAP, interpolation="nearest")
            axes[i, col].set_xticks([])
            axes[i, col].set_yticks([])
            if i == 0:
                axes[i, col].set_title(name, fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure_to_rgb(figure)


def segmentation_figure(images: Tensor, targets: Tensor, predictions: Tensor, title: str) -> np.ndarray:
    """Paper Fig. 5: image, ground truth and prediction in the VOC palette (255 = void, cream)."""
    palette = np.array(voc_palette(), dtype=np.float64).reshape(256, 3) / 255
    cmap = ListedColormap(palette)
    figure, axes = subplots(len(images), 3, (5.4, 1.8 * len(images) + 0.6))
    for i in range(len(images)):
        panels = ((display_image(images[i]), None), (targets[i], cmap), (predictions[i], cmap))
        for col, (array, colours) in enumerate(panels):
            if colours is None:
                axes[i, col].imshow(array)
            else:
                mask = array.cpu().numpy() if isinstance(array, Tensor) else array
                axes[i, col].imshow(mask, cmap=colours, vmin=0, vmax=255, interpolation="nearest")
            axes[i, col].set_xticks([])
            axes[i, col].set_yticks([])
            if i == 0:
                axes[i, col].set_title(("image", "ground truth", "prediction")[col], fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure_to_rgb(figure)
