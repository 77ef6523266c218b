"""``SubbandVisualizer``: look at what LiftPool does while a model trains (and in validate/test).

Every ``every_n_epochs`` validation epochs, at the end of fit, and in ``validate``/``test``, it runs the network on
a fixed set of validation images (the same ones every time) and logs, through ``image_logging``:

* ``subbands/<layer>``: the input image, the layer's input channel, LL/LH/HL/HH and what MaxPool would make of it,
  for the chosen LiftDownPool layers (default: the first) and channels (paper Fig. 3/7);
* ``reconstruction/<layer>``: LiftUpPool's reconstruction against MaxUnpool's for models with up-pooling (Fig. 1);
* ``segmentation/predictions``: prediction against ground truth in the VOC palette, for segmentation (Fig. 5);
* ``lifting_losses``: a table of every layer's c_u and c_p on the drawn images.

At the trainer's logging cadence it also logs ``lifting/<layer>/c_u`` and ``c_p`` of every LiftDownPool layer.
Drawing happens on rank 0 only, without gradients, on a few samples; other ranks do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from liftpool_lightning.callbacks.figures import reconstruction_figure, segmentation_figure, subband_figure
from liftpool_lightning.callbacks.image_logging import log_image, log_table
from liftpool_lightning.callbacks.trainer_attributes import runtime_attributes
from liftpool_lightning.nn import LiftDownPool2d, LiftDownPoolNd, LiftUpPoolNd, lifting_losses, liftpool_layers

log = logging.getLogger(__name__)


class SubbandVisualizer(Callback):
    """Logs sub-band pictures and per-layer lifting losses (see the module docstring).

    Args:
        every_n_epochs: draw after every n-th validation epoch (and always at the end of fit).
        num_images: how many fixed validation images to draw.
        layers: module paths of the LiftDownPool layers to draw (e.g. ``network.features.6``); None: the first.
        channels: feature channels to draw for each image.
        log_layer_losses: log c_u and c_p of every layer as scalars.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_images: int = 4,
        layers: list[str] | None = None,
        channels: Sequence[int] = (0, 1),
        log_layer_losses: bool = True,
    ) -> None:
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if num_images < 1:
            raise ValueError(f"num_images must be >= 1, got {num_images}")
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.layer_names = layers
        self.channels = list(channels)
        self.log_layer_losses = log_layer_losses
        self._layers: dict[str, LiftDownPoolNd] = {}
        self._samples: tuple[Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ setup
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        found = liftpool_layers(pl_module)
        if not found:
            rank_zero_warn(
                f"SubbandVisualizer: {type(pl_module).__name__} has no LiftDownPool layer, so there are no sub-bands "
                "to draw (use pool: lift or wavelet); the callback does nothing."
            )
            self._layers = {}
            return
        if self.layer_names is None:
            first = next((name for name, layer in found.items() if isinstance(layer, LiftDownPool2d)), None)
            self._layers = {first: found[first]} if first else {}
        else:
            unknown = [name for name in self.layer_names if name not in found]
            if unknown:
                raise ValueError(
                    f"SubbandVisualizer layers: {', '.join(unknown)} are not LiftDownPool layers; "
                    f"the model has {', '.join(found)}"
                )
            self._layers = {name: found[name] for name in self.layer_names}

    def _fixed_samples(self, trainer: Trainer) -> tuple[Tensor, Tensor] | None:
        """The first ``num_images`` items of the validation set, chosen once."""
        if self._samples is None:
            datamodule = runtime_attributes(trainer).datamodule
            dataset = getattr(datamodule, "val_dataset", None) if datamodule is not None else None
            if dataset is None:
                loaders = trainer.val_dataloaders or trainer.test_dataloaders
                loader = loaders[0] if isinstance(loaders, Sequence) else loaders
                dataset = getattr(loader, "dataset", None)
            if dataset is None or len(dataset) == 0:
                return None
            items = [dataset[i] for i in range(min(self.num_images, len(dataset)))]
            images = torch.stack([item[0] for item in items])
            targets = torch.stack([torch.as_tensor(item[1]) for item in items])
            self._samples = (images, targets)
        return self._samples

    # ------------------------------------------------------------------ hooks
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.log_layer_losses or (trainer.global_step % max(runtime_attributes(trainer).log_every_n_steps, 1)):
            return
        for name, losses in lifting_losses(pl_module).items():
            pl_module.log(f"lifting/{name}/c_u", losses.c_u.detach(), on_step=True, on_epoch=False)
            pl_module.log(f"lifting/{name}/c_p", losses.c_p.detach(), on_step=True, on_epoch=False)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        fitting = trainer.state.fn == "fit"
        if not fitting or (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.draw(trainer, pl_module, "val" if fitting else "validate")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.draw(trainer, pl_module, "test")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if (trainer.current_epoch) % self.every_n_epochs != 0:  # the last epoch was not drawn yet
            self.draw(trainer, pl_module, "fit_end")

    # ------------------------------------------------------------------ drawing
    @torch.no_grad()
    def draw(self, trainer: Trainer, pl_module: LightningModule, tag: str) -> None:
        """Render and log every picture now (rank 0 only)."""
        if not trainer.is_global_zero or not self._layers:
            return
        samples = self._fixed_samples(trainer)
        if samples is None:
            log.warning("SubbandVisualizer: no validation images to draw")
            return
        images, targets = (t.to(pl_module.device) for t in samples)
        step = trainer.global_step
        when = f"{tag}, epoch {trainer.current_epoch}, step {step}"
        for key, picture, caption in render_pictures(pl_module, self._layers, images, targets, self.channels, when):
            log_image(trainer, key, picture, step, caption=caption, tag=tag)
        rows = [(name, float(v.c_u), float(v.c_p)) for name, v in lifting_losses(pl_module).items()]
        if rows:
            log_table(trainer, "lifting_losses", ["layer", "c_u", "c_p"], rows, step)


@torch.no_grad()
def render_pictures(
    model: nn.Module,
    layers: dict[str, LiftDownPoolNd],
    images: Tensor,
    targets: Tensor | None,
    channels: Sequence[int],
    when: str,
    strict_channels: bool = False,
) -> list[tuple[str, Any, str]]:
    """Run ``model`` on ``images`` in eval mode and draw, for each of ``layers`` (paths in ``model``), its sub-bands
    next to MaxPool, its LiftUpPool reconstruction next to MaxUnpool when it has an up-pool, and the segmentation
    against ``targets`` when the model segments; returns ``(key, RGB array, caption)`` triples.

    Channels a layer does not have are left out, or with ``strict_channels`` a ValueError naming the valid range."""
    inputs: dict[str, Tensor] = {}
    handles = [
        layer.register_forward_pre_hook(lambda module, args, name=name: inputs.__setitem__(name, args[0]))
        for name, layer in layers.items()
    ]
    was_training = model.training
    model.eval()
    try:
        reference = next(model.parameters(), None)
        outputs = model(images.to(reference.dtype) if reference is not None else images)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    pictures = []
    for name, layer in layers.items():
        if name not in inputs:
            continue
        features = inputs[name]
        outside = [c for c in channels if not 0 <= c < features.shape[1]]
        if strict_channels and outside:
            raise ValueError(
                f"channels: {', '.join(map(str, outside))} out of range: layer {name} has {features.shape[1]} channels "
                f"(0..{features.shape[1] - 1})"
            )
        bands = layer.decompose(features)
        maxpool = F.max_pool2d(features, 2, ceil_mode=layer.ceil_mode) if features.ndim == 4 else None
        title = f"{name} ({when})"
        pictures.append((f"subbands/{name}", subband_figure(images, features, dict(bands), channels, title, maxpool),
                         title))  # fmt: skip
        ups = [m for m in model.modules() if isinstance(m, LiftUpPoolNd) and m.down is layer]
        if ups and features.ndim == 4:
            lift = ups[0](bands.low, bands, output_size=features.shape)
            pooled, indices = F.max_pool2d(features, 2, return_indices=True, ceil_mode=layer.ceil_mode)
            maxunpool = F.max_unpool2d(pooled, indices, (2, 2), output_size=features.shape[2:])
            channel = channels[0] if channels and channels[0] < features.shape[1] else 0
            title = f"{name}: LiftUpPool vs MaxUnpool ({when})"
            pictures.append((f"reconstruction/{name}", reconstruction_figure(features, lift, maxunpool, channel, title),
                             title))  # fmt: skip
    if targets is not None and isinstance(outputs, Tensor) and outputs.ndim == 4 and targets.ndim == 3:
        title = f"predictions ({when})"
        pictures.append(("segmentation/predictions", segmentation_figure(images, targets, outputs.argmax(1), title),
                         title))  # fmt: skip
    return pictures
