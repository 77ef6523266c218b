"""The files of a bundle, by name."""

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
TRAINING_CONFIG_NAME = "training_config.yaml"
#: The files of a bundle: what ``push_to_hub`` uploads from a folder (nothing else in it is sent).
BUNDLE_FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, TRAINING_CONFIG_NAME)
