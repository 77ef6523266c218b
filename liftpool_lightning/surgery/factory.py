"""One factory for every pool the surgery can put in: by name, by class, or by ``functools.partial``.

Down-pools (``DOWN_POOLS``): ``lift`` (learned LiftDownPool, takes its options), ``wavelet`` (fixed Haar or
LeGall 5/3 lifting: ``lifting="legall53"``), ``max``, ``avg``, ``skip`` (subsampling, the paper's "Skip"),
``blur`` (BlurPool; MaxBlurPool in place of a max pool), ``mixed`` and ``gated`` (Lee et al. 2016).
Up-pools (``UP_POOLS``): ``maxunpool`` (keep MaxUnpool), ``maxunpool+blur``, ``lift`` (LiftUpPool paired with
its LiftDownPool), ``bilinear`` (interpolation, the indices ignored: a reference decoder).

A class or partial is called with ``**options``, plus ``channels``, ``ceil_mode``, ``device`` and ``dtype`` where
its signature takes them; its output shape is checked like any other.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Union, cast

import torch
from torch import nn

from liftpool_lightning.nn import LiftDownPool1d, LiftDownPool2d, LiftDownPool3d, LiftDownPoolNd
from liftpool_lightning.nn.baselines import BlurPool, GatedPool, MaxBlurPool, MixedPool, SkipPool
from liftpool_lightning.nn.constants import PAPER_OPTIONS
from liftpool_lightning.surgery.sites import Site

if TYPE_CHECKING:
    from torch.nn.modules.pooling import _MaxPoolNd

PoolSpec = Union[str, type[nn.Module], Callable[..., nn.Module]]  # noqa: UP007 (jsonargparse-friendly)
DOWN_POOLS = ("lift", "lift_paper", "wavelet", "max", "avg", "skip", "blur", "mixed", "gated")
UP_POOLS = ("maxunpool", "maxunpool+blur", "lift", "bilinear")

_LIFT = {1: LiftDownPool1d, 2: LiftDownPool2d, 3: LiftDownPool3d}
_MAX = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVG = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_OPTIONS: dict[str, set[str]] = {
    "lift": set(inspect.signature(LiftDownPoolNd.__init__).parameters) - {"self", "channels", "ceil_mode"},
    "wavelet": {"lifting", "bands", "padding_mode", "compute_losses"},
    "lift_paper": set(inspect.signature(LiftDownPoolNd.__init__).parameters) - {"self", "channels", "ceil_mode"},
    "max": set(),
    "avg": set(),
    "skip": set(),
    "blur": {"filter_size"},
    "mixed": set(),
    "gated": set(),
}


def resolve_preset(pool: PoolSpec, options: dict[str, Any]) -> tuple[PoolSpec, dict[str, Any]]:
    """``lift_paper`` is ``lift`` with ``PAPER_OPTIONS`` (the options given override them); other specs unchanged."""
    if pool == "lift_paper":
        return "lift", {**PAPER_OPTIONS, **options}
    return pool, options


_NOT_SAVED = {"self", "channels", "ceil_mode", "record_bands", "fused", "device", "dtype"}  # runtime, not the model


def full_pool_options(pool: PoolSpec | None, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """Every option that defines the layers of a ``lift`` / ``lift_paper`` pool, the defaults of this version filled
    in (``PAPER_OPTIONS`` for ``lift_paper``, then ``options``): what a saved model records, so that a later version
    with other defaults rebuilds the same layers. Other pools: ``options`` as given."""
    if pool not in ("lift", "lift_paper"):
        return dict(options) if options else None
    parameters = inspect.signature(LiftDownPoolNd.__init__).parameters
    defaults = {name: p.default for name, p in parameters.items() if name not in _NOT_SAVED}
    preset = PAPER_OPTIONS if pool == "lift_paper" else {}
    return {**defaults, **preset, **(options or {})}


def check_pool_spec(pool: PoolSpec, options: dict[str, Any], name: str = "pool") -> None:
    """Fail fast, before any dry run, on an unknown pool name or an option the pool does not take."""
    if isinstance(pool, str):
        if pool not in DOWN_POOLS:
            raise ValueError(f"{name}: unknown pool {pool!r}; choose from {', '.join(DOWN_POOLS)}, or pass a class")
        unknown = set(options) - _OPTIONS[pool]
        if unknown:
            allowed = ", ".join(sorted(_OPTIONS[pool])) or "none"
            raise ValueError(
                f"{name}={pool!r} does not take option(s) {', '.join(sorted(unknown))}; allowed: {allowed}"
            )
        if pool == "wavelet" and options.get("lifting", "haar") not in ("haar", "legall53"):
            raise ValueError(f"pool='wavelet' takes lifting='haar' or 'legall53', got {options['lifting']!r}")
    elif not callable(pool):
        raise TypeError(f"{name} must be a name, a class or a callable, got {type(pool).__name__}")


def check_up_pool_spec(up_pool: str | None) -> None:
    if up_pool is not None and up_pool not in UP_POOLS:
        raise ValueError(f"up_pool: unknown up-pool {up_pool!r}; choose from {', '.join(UP_POOLS)}")


def makes_lift_pool(pool: PoolSpec) -> bool:
    """Whether the spec builds a LiftDownPool (which needs a LiftUpPool as its partner)."""
    if isinstance(pool, str):
        return pool in ("lift", "lift_paper", "wavelet")
    target = getattr(pool, "func", pool)
    return isinstance(target, type) and issubclass(target, LiftDownPoolNd)


def needs_channels(pool: PoolSpec) -> bool:
    if isinstance(pool, str):
        return pool in ("lift", "lift_paper")
    try:
        return "channels" in inspect.signature(pool).parameters
    except (TypeError, ValueError):
        return False


def _uniform_stride(site: Site, pool: str) -> int:
    if len(set(site.stride)) != 1:
        raise ValueError(f"{site.path}: pool {pool!r} needs the same stride on every axis, got {site.stride}")
    return site.stride[0]


def candidates(pool: PoolSpec, site: Site, options: dict[str, Any], device: Any, dtype: Any) -> Iterator[nn.Module]:
    """Replacement modules for ``site``, most faithful first; the caller keeps the first whose shapes match."""
    dims = site.spatial_dims
    factory = {"device": device, "dtype": dtype}
    from_pool = site.kind in ("max", "avg")
    geometry = (
        {"kernel_size": site.kernel_size, "stride": site.stride, "padding": site.padding}
        if from_pool
        else {"kernel_size": site.stride, "stride": site.stride, "padding": 0}
    )
    ceil_modes = [site.ceil_mode, not site.ceil_mode] if from_pool else [True, False]
    if not isinstance(pool, str):
        yield from _custom_candidates(pool, site, options, ceil_modes, factory)
        return
    if pool in ("lift", "wavelet"):
        if site.stride != (2,) * dims:
            raise ValueError(
                f"{site.path}: LiftPool halves every axis, but this layer has stride {site.stride}; exclude it or "
                "choose another pool"
            )
        for ceil_mode in ceil_modes:
            if pool == "lift":
                yield _LIFT[dims](channels=site.channels, ceil_mode=ceil_mode, **options, **factory)
            else:  # the fixed wavelet pool sums every band unless told otherwise (the layer's default is the low band)
                yield _LIFT[dims](
                    lifting=options.get("lifting", "haar"),
                    ceil_mode=ceil_mode,
                    **{"bands": "all", **{k: v for k, v in options.items() if k != "lifting"}},
                )
    elif pool == "max":
        if site.kind == "max":
            source = cast("_MaxPoolNd", site.module)  # a max-pool site's module is a MaxPool1d/2d/3d
            yield _MAX[dims](source.kernel_size, source.stride, source.padding, source.dilation,
                             return_indices=source.return_indices, ceil_mode=source.ceil_mode)  # fmt: skip
        for ceil_mode in ceil_modes:
            yield _MAX[dims](**geometry, ceil_mode=ceil_mode)
    elif pool == "avg":
        for ceil_mode in ceil_modes:
            yield _AVG[dims](**geometry, ceil_mode=ceil_mode, count_include_pad=site.kind == "avg")
    elif pool == "skip":
        for ceil_mode in ceil_modes:
            yield SkipPool(site.stride, dims, ceil_mode=ceil_mode)
    elif pool == "blur":
        stride = _uniform_stride(site, pool)
        for ceil_mode in (True, False):
            if site.kind == "max":
                for extend in (0, 1):
                    yield MaxBlurPool(site.kernel_size, stride, site.padding, site.dilation, spatial_dims=dims,
                                      ceil_mode=ceil_mode, extend=extend, **options)  # fmt: skip
            else:
                yield BlurPool(stride, spatial_dims=dims, ceil_mode=ceil_mode, **options)
    elif pool in ("mixed", "gated"):
        cls = MixedPool if pool == "mixed" else GatedPool
        for ceil_mode in ceil_modes:
            yield cls(**geometry, ceil_mode=ceil_mode, spatial_dims=dims, **factory)


def _custom_candidates(
    pool: Callable[..., nn.Module],
    site: Site,
    options: dict[str, Any],
    ceil_modes: list[bool],
    factory: dict[str, Any],
) -> Iterator[nn.Module]:
    try:
        accepted = set(inspect.signature(pool).parameters)
    except (TypeError, ValueError):
        accepted = set()
    kwargs = dict(options)
    if "channels" in accepted:
        kwargs["channels"] = site.channels
    kwargs.update({k: v for k, v in factory.items() if k in accepted and v is not None})
    if "ceil_mode" in accepted and "ceil_mode" not in options:
        for ceil_mode in ceil_modes:
            yield pool(**kwargs, ceil_mode=ceil_mode)
    else:
        yield pool(**kwargs)


def describe(module: nn.Module) -> str:
    """Short description of a (pooling) module for the report."""
    if isinstance(module, LiftDownPoolNd):
        detail = f"C={module.channels}, K={module.kernel_size}" if module.lifting == "learned" else module.lifting
        bands = "all" if module.bands == module.band_names else "+".join(module.bands)
        return f"{type(module).__name__}({detail}, bands={bands}, ceil={module.ceil_mode})"
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        geometry = f"k={module.kernel_size}, s={module.stride}, p={module.padding}, ceil={module.ceil_mode}"
        return f"{type(module).__name__}({geometry})"
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        channels = f"{module.in_channels}->{module.out_channels}"
        return f"{type(module).__name__}({channels}, k={module.kernel_size}, s={module.stride})"
    children = list(module.children())
    if children:
        return f"{type(module).__name__}[{' -> '.join(describe(c) for c in children)}]"
    return type(module).__name__


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def to_device(module: nn.Module, device: torch.device | None, dtype: torch.dtype | None) -> nn.Module:
    """Move a module's parameters and buffers to the site's device and floating dtype."""
    if device is not None:
        module = module.to(device=device)
    if dtype is not None and dtype.is_floating_point:
        module = module.to(dtype=dtype)
    return module
