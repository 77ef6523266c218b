"""The ``Trainer`` attributes that Lightning sets at run time (in its connectors) without declaring them on the
class: a type checker does not know them. ``runtime_attributes(trainer).datamodule`` reads them typed; it is
``trainer`` itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from lightning import Callback, LightningDataModule, Trainer


class TrainerRuntimeAttributes(Protocol):
    """What Lightning's connectors set on every ``Trainer``."""

    datamodule: LightningDataModule | None  # the data module of the running fit/validate/test/predict (DataConnector)
    log_every_n_steps: int  # the Trainer argument (_LoggerConnector)
    callbacks: list[Callback]  # the run's callbacks, the model's configure_callbacks included (_CallbackConnector)


def runtime_attributes(trainer: Trainer) -> TrainerRuntimeAttributes:
    """``trainer``, typed with the attributes Lightning sets on it at run time."""
    return cast("TrainerRuntimeAttributes", trainer)
