"""Share and load LiftPool networks by name: a folder (or Hugging Face Hub repository) holding the weights, the
config that rebuilds the network, and a model card (``liftpool bundle`` writes one from a checkpoint).

A bundle is three files (four when the training config is known)::

    model.safetensors      the network's state dict (safetensors: no pickled code runs on loading)
    config.json            what ``create_network`` needs to rebuild the network: network, num_classes, pool,
                           pool_options, up_pool, strided_convs, input_size, network_options (+ package version)
    README.md              the model card: network, pool, options, data, metrics, the command that trained it
    training_config.yaml   the run's resolved config, as ``liftpool fit`` saved it (config.yaml in its log folder)

``from_pretrained("user/repo")`` or ``from_pretrained("path/to/folder")`` rebuilds the network with
``create_network`` and loads the weights strictly; ``push_to_hub(folder_or_model, "user/repo")`` uploads a bundle.
The Hub part needs ``huggingface_hub`` and ``safetensors``: ``pip install 'liftpool-lightning[hub]'``.

Modules: ``config`` (the network config), ``card`` (the model card), ``bundle`` (saving), ``loading``, ``push``;
``files`` (the bundle's file names) and ``extra`` (importing the ``[hub]`` extra).
"""

from liftpool_lightning.hub.bundle import bundle_checkpoint, save_pretrained
from liftpool_lightning.hub.card import PAPER_URL, model_card, training_record
from liftpool_lightning.hub.config import (
    CONFIG_KEYS,
    LIBRARY_NAME,
    NETWORK_KEYS,
    create_model,
    network_config,
    resolved_config,
)
from liftpool_lightning.hub.extra import EXTRA_HINT
from liftpool_lightning.hub.files import BUNDLE_FILES, CARD_NAME, CONFIG_NAME, TRAINING_CONFIG_NAME, WEIGHTS_NAME
from liftpool_lightning.hub.loading import from_pretrained, load_config
from liftpool_lightning.hub.push import push_to_hub

__all__ = [
    "BUNDLE_FILES",
    "CARD_NAME",
    "CONFIG_KEYS",
    "CONFIG_NAME",
    "EXTRA_HINT",
    "LIBRARY_NAME",
    "NETWORK_KEYS",
    "PAPER_URL",
    "TRAINING_CONFIG_NAME",
    "WEIGHTS_NAME",
    "bundle_checkpoint",
    "create_model",
    "from_pretrained",
    "load_config",
    "model_card",
    "network_config",
    "push_to_hub",
    "resolved_config",
    "save_pretrained",
    "training_record",
]
