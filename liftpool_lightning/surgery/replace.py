"""``replace_pooling``: swap the pooling of any nn.Module for LiftPool or a baseline pool, in place, with a report."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from liftpool_lightning.nn import LiftDownPoolNd, LiftUpPool1d, LiftUpPool2d, LiftUpPool3d
from liftpool_lightning.nn.baselines import BlurPool, MaxBlurPool
from liftpool_lightning.surgery.factory import (
    PoolSpec,
    candidates,
    check_pool_spec,
    check_up_pool_spec,
    describe,
    makes_lift_pool,
    needs_channels,
    parameter_count,
    resolve_preset,
    to_device,
)
from liftpool_lightning.surgery.report import Replacement, SurgeryReport
from liftpool_lightning.surgery.sites import Site, dry_run, find_sites, matches, select_sites
from liftpool_lightning.surgery.wrappers import (
    ConvThenPool,
    InterpolateUnpool,
    LiftDownPoolWithIndices,
    LiftUnpool,
    MaxBlurPoolWithIndices,
    MaxUnpoolBlur,
    mark_replaced,
)

if TYPE_CHECKING:
    from torch.nn.modules.conv import _ConvNd

log = logging.getLogger(__name__)

_LIFT_UP = {1: LiftUpPool1d, 2: LiftUpPool2d, 3: LiftUpPool3d}
_PROBE_SIZES = (2, 3, 4, 5, 7, 8, 9, 15, 16)
KEEPS_SIZE = "stride 1, does not downsample; name it in include= to swap it for a pool that keeps the size"


def replace_pooling(
    model: nn.Module,
    pool: PoolSpec = "lift",
    example_input: Tensor | Sequence[int] | None = None,
    *,
    up_pool: str | None = None,
    strided_convs: bool = False,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    skip_stem: bool = False,
    **options: Any,
) -> SurgeryReport:
    """Swap every local pooling layer of ``model`` (in place) for ``pool``, keeping all output shapes.

    Args:
        model: any nn.Module; nested Sequential/ModuleList/ModuleDict and shared modules are handled, weights of
            every module not replaced stay untouched.
        pool: a name from ``DOWN_POOLS`` (``lift``, ``lift_paper``: the paper's LiftDownPool, ``PAPER_OPTIONS``;
            ``wavelet``, ``max``, ``avg``, ``skip``, ``blur``, ``mixed``, ``gated``), a class or a
            ``functools.partial``.
        example_input: a tensor (or a shape) the model accepts; one forward pass on it, in eval mode without
            gradients, finds each layer's channels and shapes and checks every replacement. Default: a
            (1, C, 224, 224) zero image, C from the model's first Conv2d.
        up_pool: for MaxPool(return_indices=True) layers paired with a MaxUnpool: ``lift`` (default when ``pool``
            builds a LiftDownPool: the down-pool keeps LL, the up-pool uses its detail bands), ``maxunpool``
            (default otherwise), ``maxunpool+blur`` or ``bilinear`` (interpolation ignoring the indices, with any pool).
        strided_convs: also turn each stride-s convolution into the same convolution with stride 1 followed by
            the pool (for networks that downsample without pooling, e.g. MobileNetV2).
        include: shell-style patterns on module paths (``"features.*"``) of the layers to replace (default: every
            candidate); a pattern that matches no candidate layer is an error. Pools with stride 1 on every axis
            (they keep the size, e.g. GoogLeNet's branch pools) are left alone and reported unless an ``include``
            pattern matches them; LiftPool always halves, so ``lift``/``wavelet`` cannot replace them and say so.
        exclude: shell-style patterns of layers to leave alone; a pattern that matches no candidate is an error.
        skip_stem: leave the first downsampling layer of the forward pass alone.
        **options: passed to the pool (e.g. ``kernel_size=3, bands=("ll",)`` for ``lift``).

    Returns:
        A ``SurgeryReport``; ``print(report)`` shows a table of the replaced paths, old and new modules, shapes
        and added parameters. Layers replaced by an earlier call are left alone (idempotent).

    Raises:
        ValueError: unknown pool or option, a pattern matching nothing, no pooling layer found, or a layer whose
            output shape the chosen pool cannot keep (the message names the module).
    """
    check_pool_spec(pool, options)
    pool, options = resolve_preset(pool, options)
    check_up_pool_spec(up_pool)
    lift_down = makes_lift_pool(pool)
    if lift_down and up_pool not in (None, "lift", "bilinear"):
        raise ValueError(f"up_pool={up_pool!r} needs max indices, which a LiftDownPool does not make; use 'lift'")
    if not lift_down and up_pool == "lift":
        raise ValueError("up_pool='lift' needs pool='lift' or 'wavelet' (a LiftUpPool inverts its LiftDownPool)")
    up_pool = up_pool or ("lift" if lift_down else "maxunpool")

    all_sites, unpools, already = find_sites(model, strided_convs)
    if not all_sites and not already:
        hint = "" if strided_convs else "; for a model that downsamples by stride, use strided_convs=True"
        raise ValueError(f"found no pooling layer to replace in {type(model).__name__}{hint}")
    if include is None and not already and not any(site.downsamples for site in all_sites):
        raise ValueError(
            f"found no downsampling pooling layer in {type(model).__name__}: its pools have stride 1 and keep the "
            f"size ({', '.join(site.path for site in all_sites)}); name them in include= to swap them for a pool "
            "that keeps the size"
        )
    sites = select_sites(all_sites, include, exclude)
    report = SurgeryReport(skipped=[(path, "replaced by an earlier replace_pooling") for path in already])
    report.skipped += [(s.path, KEEPS_SIZE) for s in sites if not s.downsamples and not matches(s, include)]
    sites = [s for s in sites if s.downsamples or matches(s, include)]

    example = _example_input(model, example_input)
    reference_output = dry_run(model, example, all_sites + unpools)
    called = sorted((s for s in sites if s.calls), key=lambda s: s.calls[0][0])
    stem = next((s for s in called if s.downsamples), None)
    if skip_stem and stem is not None:
        report.skipped.append((stem.path, "stem (skip_stem=True)"))
        called.remove(stem)
    for site in sites:
        if not site.calls:
            report.skipped.append((site.path, "not run by example_input"))

    pairs = _pair_unpools(all_sites, unpools)
    pairs = {up: down for up, down in pairs.items() if down in called}  # an excluded pool keeps its MaxUnpool
    new_modules: dict[int, nn.Module] = {}
    for site in called:
        new_modules[id(site.module)] = _replacement(site, pool, options, report)
    for unpool, down_site in pairs.items():
        down = new_modules[id(down_site.module)]
        new_modules[id(unpool.module)] = _up_replacement(unpool, down, up_pool, report)

    for site in [*called, *pairs]:  # nothing is changed before every replacement has passed its checks
        if site.kind == "conv":
            cast("_ConvNd", site.module).stride = (1,) * site.spatial_dims
        for path in site.paths:
            _set_module(model, path, new_modules[id(site.module)])

    after = dry_run(model, example, [])
    if _shapes(after) != _shapes(reference_output):
        raise RuntimeError(
            f"replace_pooling changed the output shape of {type(model).__name__} from {_shapes(reference_output)} to "
            f"{_shapes(after)}; please report this"
        )
    for module in model.modules():
        if isinstance(module, LiftDownPoolNd):
            module.clear()  # drop the dry run's recorded bands and losses
    return report


def _example_input(model: nn.Module, example_input: Tensor | Sequence[int] | None) -> Tensor:
    reference: Tensor | None = next(model.parameters(), None)
    if reference is None:
        reference = next(model.buffers(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else torch.float32
    if example_input is None:
        first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if first_conv is None:
            raise ValueError("example_input is required: the model has no Conv2d to guess an input from")
        example_input = (1, first_conv.in_channels, 224, 224)
    if not isinstance(example_input, Tensor):
        example_input = torch.zeros(*example_input)
    if not example_input.is_floating_point():
        raise ValueError(f"example_input must be a floating tensor, got {example_input.dtype}")
    return example_input.to(device=device, dtype=dtype)


def _replacement(site: Site, pool: PoolSpec, options: dict[str, Any], report: SurgeryReport) -> nn.Module:
    """The module that replaces ``site``, with output shapes checked against the original."""
    channels = {(call[2] if site.kind == "conv" else call[1])[1] for call in site.calls}  # as Site.channels, every call
    if len(channels) > 1 and needs_channels(pool):
        raise ValueError(
            f"{site.path} is called with {sorted(channels)} channels; {describe_pool(pool)} needs one channel count"
        )
    new_pool = _shape_keeping_pool(site, pool, options)
    if (
        site.return_indices
        and not isinstance(new_pool, (LiftDownPoolNd, MaxBlurPool))
        and not getattr(new_pool, "return_indices", False)
    ):
        raise ValueError(f"{site.path} returns max indices for a MaxUnpool; pool {describe_pool(pool)} cannot")
    if site.return_indices and isinstance(new_pool, LiftDownPoolNd):
        new_pool.bands = (new_pool.band_names[0],)  # an encoder keeps LL, its LiftUpPool gets the details
        replacement: nn.Module = LiftDownPoolWithIndices(new_pool)
    elif site.return_indices and isinstance(new_pool, MaxBlurPool):
        replacement = MaxBlurPoolWithIndices(new_pool, site.module)  # the unpool keeps the max positions
    elif site.kind == "conv":
        replacement = ConvThenPool(site.module, new_pool)  # the conv's stride becomes 1 when it is put in
    else:
        replacement = new_pool
    old_parameters = 0 if site.kind == "conv" else parameter_count(site.module)
    report.replacements.append(
        Replacement(
            path=site.path,
            old=describe(site.module),
            new=describe(new_pool) + (" (after the conv, now stride 1)" if site.kind == "conv" else ""),
            input_shape=site.input_shape,
            output_shape=site.output_shape,
            added_parameters=parameter_count(new_pool) - old_parameters,
        )
    )
    return mark_replaced(replacement)


def describe_pool(pool: PoolSpec) -> str:
    return repr(pool) if isinstance(pool, str) else getattr(pool, "__name__", repr(pool))


def _shape_keeping_pool(site: Site, pool: PoolSpec, options: dict[str, Any]) -> nn.Module:
    """First candidate whose output size equals the original layer's on the dry-run size and on probe sizes."""
    example = site.calls[0][1]
    spatial_sizes = [tuple(example[2:])] + [(n,) * site.spatial_dims for n in _PROBE_SIZES]
    targets = [(s, site.target_spatial(s)) for s in spatial_sizes]
    targets = [(s, t) for s, t in targets if t is not None]
    channels = site.channels
    if channels is None:  # Site.channels is None only for a site the dry run did not call
        raise ValueError(f"{site.path} was not run by the example input")
    fallback = None
    tried = []
    for candidate in candidates(pool, site, options, site.device, site.dtype):
        candidate = to_device(candidate, site.device, site.dtype)
        results = []
        for spatial, target in targets:
            probe = torch.zeros(1, channels, *site.pool_input_spatial(spatial), device=site.device, dtype=site.dtype)
            try:
                with torch.no_grad():
                    out = candidate(probe)
                out = out[0] if isinstance(out, tuple) else out
                results.append(tuple(out.shape[2:]) == target)
            except (RuntimeError, ValueError):
                results.append(False)
        if all(results):
            return candidate
        if results and results[0] and fallback is None:
            fallback = candidate
        tried.append(describe(candidate))
    if fallback is not None:
        log.warning("%s: the new pool keeps the output shape for the example input only", site.path)
        return fallback
    raise ValueError(
        f"{site.path}: cannot keep its output shape {site.output_shape} with pool {describe_pool(pool)} "
        f"(tried {'; '.join(tried) or 'nothing'}); exclude it or choose another pool"
    )


def _pair_unpools(sites: list[Site], unpools: list[Site]) -> dict[Site, Site]:
    """Pair each MaxUnpool with the index-returning pool it undoes: last pooled, first unpooled, equal shapes."""
    events = sorted(
        [(call[0], "down", s, call) for s in sites if s.return_indices for call in s.calls]
        + [(call[0], "up", s, call) for s in unpools for call in s.calls],
        key=lambda e: e[0],
    )
    stack: list[tuple[Site, tuple]] = []
    pairs: dict[Site, Site] = {}
    for _, kind, site, call in events:
        if kind == "down":
            stack.append((site, call))
            continue
        match = next((i for i in range(len(stack) - 1, -1, -1) if stack[i][1][2] == call[1]), None)
        if match is None:
            raise ValueError(f"{site.path}: found no MaxPool(return_indices=True) whose output it unpools")
        down_site, _ = stack.pop(match)
        if pairs.get(site, down_site) is not down_site:
            raise ValueError(f"{site.path} unpools the outputs of several pools; it cannot be paired")
        pairs[site] = down_site
    for site in unpools:
        if site.calls and site not in pairs:
            raise ValueError(f"{site.path}: found no pool to pair with")
    return pairs


def _up_replacement(unpool: Site, down: nn.Module, up_pool: str, report: SurgeryReport) -> nn.Module:
    if up_pool == "lift":
        assert isinstance(down, LiftDownPoolWithIndices)
        new: nn.Module = LiftUnpool(_LIFT_UP[unpool.spatial_dims](down.pool))
    elif up_pool == "maxunpool+blur":
        blur = to_device(BlurPool(stride=1, spatial_dims=unpool.spatial_dims), unpool.device, unpool.dtype)
        new = MaxUnpoolBlur(unpool.module, blur)
    elif up_pool == "bilinear":
        new = InterpolateUnpool(unpool.module, unpool.spatial_dims)
    else:
        return unpool.module
    report.replacements.append(
        Replacement(
            path=unpool.path,
            old=describe(unpool.module),
            new=describe(new),
            input_shape=unpool.input_shape,
            output_shape=unpool.output_shape,
            added_parameters=0,  # a LiftUpPool shares its LiftDownPool's parameters
        )
    )
    return mark_replaced(new)


def _set_module(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, module)


def _shapes(output: object) -> object:
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return type(output)(_shapes(o) for o in output)
    if isinstance(output, dict):
        return {k: _shapes(v) for k, v in output.items()}
    return type(output).__name__
