"""timm backbones: ``network: timm/<architecture>`` builds any timm ConvNet for the pooling surgery.

timm is an optional extra (``pip install 'liftpool-lightning[timm]'``) and is imported only when a ``timm/`` name is
used. ``weights`` is timm's pretrained tag: None (random initialisation), ``"default"`` (timm's default tag for the
architecture), a tag such as ``"a1_in1k"``, or the full ``"resnet18.a1_in1k"``; a tag is checked against
``timm.list_pretrained`` before anything is downloaded. The tag goes in ``weights``, not in the network name, so that
one run names its architecture and its initialisation in one place each.
"""

from __future__ import annotations

import difflib
from types import ModuleType
from typing import Any

from torch import nn

TIMM_PREFIX = "timm/"
TIMM_EXTRA = "pip install 'liftpool-lightning[timm]'"
DEFAULT_INPUT_SIZE = 224  # the surgery's dry run size for an architecture without a pretrained config


def is_timm_name(name: str) -> bool:
    """Whether a network name asks for a timm model (``timm/<architecture>``)."""
    return name.startswith(TIMM_PREFIX)


def import_timm() -> ModuleType:
    """timm, or an ImportError naming the extra that installs it."""
    try:
        import timm
    except ImportError as error:
        raise ImportError(f"network 'timm/...' needs timm, which is not installed: {TIMM_EXTRA}") from error
    return timm


def timm_architecture(name: str) -> str:
    """The timm architecture of ``timm/<architecture>``, checked to exist (close matches suggested otherwise)."""
    if not is_timm_name(name):
        raise ValueError(f"network {name!r} is not a timm name; write timm/<architecture>, e.g. timm/resnet18")
    arch = name[len(TIMM_PREFIX) :]
    if not arch:
        raise ValueError("network 'timm/' names no architecture; write timm/<architecture>, e.g. timm/resnet18")
    timm = import_timm()
    if "." in arch:  # timm's own "architecture.tag" spelling: the tag belongs in weights
        base, tag = arch.split(".", 1)
        raise ValueError(
            f"network {name!r}: name the architecture alone (timm/{base}) and give the pretrained tag as weights "
            f"({tag!r}), or weights None for random initialisation"
        )
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5)
        hint = f"; did you mean {', '.join(TIMM_PREFIX + c for c in close)}?" if close else ""
        raise ValueError(f"network {name!r}: timm {timm.__version__} has no architecture {arch!r}{hint}")
    return arch


def timm_pretrained_name(arch: str, weights: str | None) -> str | None:
    """timm's ``architecture.tag`` name for ``weights`` (see the module docstring); None for random initialisation.

    Raises:
        ValueError: the architecture has no pretrained weights, or not under that tag (the message lists its tags).
    """
    if weights is None:
        return None
    timm = import_timm()
    available = timm.list_pretrained(f"{arch}.*")
    if weights == "default":
        cfg = timm.models.get_pretrained_cfg(arch)
        if cfg is None or not available:
            raise ValueError(f"weights: timm/{arch} has no pretrained weights; use weights None")
        return f"{arch}.{cfg.tag}" if cfg.tag else available[0]
    tag = weights[len(arch) + 1 :] if weights.startswith(f"{arch}.") else weights
    full = f"{arch}.{tag}"
    if full not in available:
        tags = ", ".join(n.split(".", 1)[1] for n in available) or "none"
        raise ValueError(f"weights: timm/{arch} has no pretrained tag {tag!r}; its tags: {tags} (or 'default')")
    return full


def timm_input_size(arch: str) -> int:
    """Side of the images the architecture's default pretrained config expects (224 when it has none)."""
    cfg = import_timm().models.get_pretrained_cfg(arch)
    if cfg is None or not cfg.input_size:
        return DEFAULT_INPUT_SIZE
    return int(cfg.input_size[-1])


def build_timm_network(arch: str, num_classes: int, weights: str | None = None, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` for ``arch`` with ``num_classes`` outputs; ``weights`` a pretrained tag or None.

    With a tag, timm loads the weights (downloading them on first use) and re-initialises the classifier when
    ``num_classes`` differs from the pretrained one. ``kwargs`` go to ``timm.create_model`` (e.g. ``drop_rate``).
    """
    timm = import_timm()
    pretrained = timm_pretrained_name(arch, weights)
    return timm.create_model(pretrained or arch, pretrained=pretrained is not None, num_classes=num_classes, **kwargs)
