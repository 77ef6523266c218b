"""The paper's networks and a registry that builds them by name with their pooling swapped."""

from liftpool_lightning.models.checkpoint_weights import load_matching_weights, read_state_dict
from liftpool_lightning.models.deeplabv3plus import DeepLabV3Plus
from liftpool_lightning.models.registry import NETWORKS, NetworkSpec, create_network, network_names
from liftpool_lightning.models.segnet import SegNet
from liftpool_lightning.models.small_vgg import SmallVGG
from liftpool_lightning.models.vgg_cifar import VGGCifar

__all__ = [
    "NETWORKS",
    "DeepLabV3Plus",
    "NetworkSpec",
    "SegNet",
    "SmallVGG",
    "VGGCifar",
    "create_network",
    "load_matching_weights",
    "network_names",
    "read_state_dict",
]
