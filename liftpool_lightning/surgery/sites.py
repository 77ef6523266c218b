"""Find the places where a model downsamples, with their geometry and the shapes seen on a dry run."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, cast

import torch
from torch import Tensor, nn

from liftpool_lightning.nn.functional_nd import CONV, per_axis
from liftpool_lightning.surgery.wrappers import is_replaced

if TYPE_CHECKING:
    from torch.nn.modules.conv import _ConvNd

POOL_TYPES: dict[type, tuple[Literal["max", "avg"], int]] = {
    nn.MaxPool1d: ("max", 1),
    nn.MaxPool2d: ("max", 2),
    nn.MaxPool3d: ("max", 3),
    nn.AvgPool1d: ("avg", 1),
    nn.AvgPool2d: ("avg", 2),
    nn.AvgPool3d: ("avg", 3),
}
CONV_TYPES: dict[type, int] = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
UNPOOL_TYPES: dict[type, int] = {nn.MaxUnpool1d: 1, nn.MaxUnpool2d: 2, nn.MaxUnpool3d: 3}


class _PoolGeometry(Protocol):
    """The geometry every max and average pool of ``POOL_TYPES`` has (max pools also ``dilation`` and
    ``return_indices``)."""

    kernel_size: int | Sequence[int]
    stride: int | Sequence[int] | None
    padding: int | Sequence[int]
    ceil_mode: bool


def _tuple(value: int | Sequence[int] | str, spatial_dims: int) -> tuple[int, ...]:
    if isinstance(value, str):  # conv padding "valid" (a strided conv cannot be "same")
        return (0,) * spatial_dims
    return per_axis(value, spatial_dims)


@dataclass(eq=False)
class Site:
    """One downsampling layer (a pool, or a strided convolution in strided mode), or a MaxUnpool to pair."""

    paths: list[str]
    module: nn.Module
    kind: Literal["max", "avg", "conv", "unpool"]
    spatial_dims: int
    kernel_size: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    ceil_mode: bool = False
    return_indices: bool = False
    calls: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    device: torch.device | None = None
    dtype: torch.dtype | None = None

    @property
    def path(self) -> str:
        return self.paths[0]

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        return self.calls[0][1] if self.calls else None

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.calls[0][2] if self.calls else None

    @property
    def downsamples(self) -> bool:
        """Whether the layer shrinks some axis (stride > 1); a stride-1 pool keeps the size (GoogLeNet's branches)."""
        return any(step > 1 for step in self.stride)

    @property
    def channels(self) -> int | None:
        """Channels entering the new pool: the pool's input channels, or a strided conv's output channels."""
        if not self.calls:
            return None
        return self.calls[0][2][1] if self.kind == "conv" else self.calls[0][1][1]

    def pool_input_spatial(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Spatial size entering the new pool for a layer input of size ``spatial`` (conv: its stride-1 output)."""
        if self.kind != "conv":
            return tuple(spatial)
        return tuple(
            n + 2 * p - d * (k - 1)
            for n, k, p, d in zip(spatial, self.kernel_size, self.padding, self.dilation, strict=True)
        )

    def target_spatial(self, spatial: Sequence[int]) -> tuple[int, ...] | None:
        """Output size of the original layer for an input of size ``spatial`` (None where it cannot run)."""
        probe = torch.empty(1, 1, *spatial, device="meta")
        try:
            if self.kind == "conv":
                weight = torch.empty(1, 1, *self.kernel_size, device="meta")
                out = CONV[self.spatial_dims](
                    probe, weight, stride=self.stride, padding=self.padding, dilation=self.dilation
                )
            else:
                out = self.module(probe)
                out = out[0] if isinstance(out, tuple) else out
        except RuntimeError:
            return None
        if any(n <= 0 for n in out.shape[2:]):
            return None
        return tuple(out.shape[2:])


def find_sites(model: nn.Module, strided_convs: bool) -> tuple[list[Site], list[Site], list[str]]:
    """Downsampling sites, MaxUnpool sites, and paths of modules a previous surgery already inserted."""
    by_id: dict[int, Site] = {}
    replaced: list[str] = []
    skip_prefixes: list[str] = []
    for path, module in model.named_modules(remove_duplicate=False):
        if not path:  # the model itself: nothing to replace it in
            continue
        if any(path.startswith(prefix) for prefix in skip_prefixes):
            continue
        if is_replaced(module):
            replaced.append(path)
            skip_prefixes.append(path + ".")
            continue
        if id(module) in by_id:
            by_id[id(module)].paths.append(path)
            continue
        site = _site_of(path, module, strided_convs)
        if site is not None:
            by_id[id(module)] = site
    sites = [s for s in by_id.values() if s.kind != "unpool"]
    unpools = [s for s in by_id.values() if s.kind == "unpool"]
    return sites, unpools, replaced


def _site_of(path: str, module: nn.Module, strided_convs: bool) -> Site | None:
    kind_dims = POOL_TYPES.get(type(module))
    if kind_dims is not None:
        kind, dims = kind_dims
        pool = cast(_PoolGeometry, module)
        stride = pool.stride if pool.stride is not None else pool.kernel_size
        return Site(
            paths=[path],
            module=module,
            kind=kind,
            spatial_dims=dims,
            kernel_size=_tuple(pool.kernel_size, dims),
            stride=_tuple(stride, dims),
            padding=_tuple(pool.padding, dims),
            dilation=_tuple(getattr(module, "dilation", 1), dims),
            ceil_mode=bool(pool.ceil_mode),
            return_indices=bool(getattr(module, "return_indices", False)),
        )
    if strided_convs and type(module) in CONV_TYPES:
        dims = CONV_TYPES[type(module)]
        conv = cast("_ConvNd", module)
        conv_stride = _tuple(conv.stride, dims)
        if max(conv_stride) > 1:
            return Site(
                paths=[path],
                module=module,
                kind="conv",
                spatial_dims=dims,
                kernel_size=_tuple(conv.kernel_size, dims),
                stride=conv_stride,
                padding=_tuple(conv.padding, dims),
                dilation=_tuple(conv.dilation, dims),
            )
    if type(module) in UNPOOL_TYPES:
        return Site(paths=[path], module=module, kind="unpool", spatial_dims=UNPOOL_TYPES[type(module)])
    return None


def select_sites(sites: list[Site], include: Sequence[str] | None, exclude: Sequence[str] | None) -> list[Site]:
    """Keep the sites whose path matches an ``include`` pattern (all if None) and no ``exclude`` pattern."""
    paths = [p for s in sites for p in s.paths]
    for name, patterns in (("include", include), ("exclude", exclude)):
        for pattern in patterns or ():
            if not any(fnmatch.fnmatchcase(p, pattern) for p in paths):
                raise ValueError(
                    f"{name} pattern {pattern!r} matches no downsampling layer; candidates are: "
                    f"{', '.join(paths) or '(none)'}"
                )
    return [s for s in sites if (include is None or matches(s, include)) and not (exclude and matches(s, exclude))]


def matches(site: Site, patterns: Sequence[str] | None) -> bool:
    """Whether one of the site's paths matches one of the shell-style ``patterns``."""
    return any(fnmatch.fnmatchcase(p, pattern) for p in site.paths for pattern in patterns or ())


def dry_run(model: nn.Module, example_input: Tensor, sites: list[Site]) -> Tensor | tuple | dict:
    """One forward pass in eval mode without gradients, recording each site's calls in order.

    Modes are restored afterwards and eval mode keeps BatchNorm statistics untouched.
    """
    counter = [0]
    handles = []

    def hook(site: Site):
        def record(module: nn.Module, args: tuple, output: Tensor | tuple[Tensor, ...]) -> None:
            x = args[0]
            out = output[0] if isinstance(output, tuple) else output
            site.calls.append((counter[0], tuple(x.shape), tuple(out.shape)))
            site.device, site.dtype = x.device, x.dtype
            counter[0] += 1

        return record

    for site in sites:
        site.calls.clear()
        handles.append(site.module.register_forward_hook(hook(site)))
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            return model(example_input)
    except Exception as error:
        raise RuntimeError(
            f"the dry run of {type(model).__name__} on example_input of shape {tuple(example_input.shape)} failed "
            f"({type(error).__name__}: {error}); pass an example_input the model accepts"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
