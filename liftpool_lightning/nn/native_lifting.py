"""The lifting steps of ``fused_lifting`` as C++ loops on CPU (float32 / float64), built on first use.

``fused_lifting`` runs a step as ~25 PyTorch / oneDNN calls, each a pass over the step's tensors; on a CPU their
per-call cost and passes dominate, not the arithmetic. ``csrc/lifting_cpu.cpp`` does a whole step (both operators,
the losses) in one loop over "slabs" (one ``L x R x C`` block of the rows, independent of the others) that stay in
cache, vectorised over channels with ATen's ``Vectorized`` and run in parallel with ``at::parallel_for``. Its backward
recomputes P and U from the step's input, so a step keeps nothing but its input and output bands for the backward.

The extension is compiled with ``torch.utils.cpp_extension.load`` the first time a layer runs on CPU (cached in
``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``, one build per source, flags, Python, PyTorch and
ninja version; a first build says so on stderr). It needs a C++ compiler and ninja: the ``ninja`` package's own
binary, whatever ninja comes first on ``PATH`` (two ninja versions rewrite each other's build log, so alternating
them would rebuild every time). Where the build fails the layers warn once and use ``fused_lifting``, which computes
the same function; ``LIFTPOOL_NATIVE=0`` skips the build. Each step is a ``torch.library`` custom op, like
``fused_lifting``'s, so torch.compile keeps it as one node.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from liftpool_lightning.nn import backend_config
from liftpool_lightning.nn._step_common import (
    OperatorWeights,
    Padding,
    as_rows,
    input_rows,
    new_empty,
    op_padding,
    pack_weights,
    register_float32_autocast,
    tap_sources,
    unlift_output,
    write_rows,
)
from liftpool_lightning.nn.backend_base import StepBackend
from liftpool_lightning.nn.step_autograd import register_lift_autograd, register_unlift_autograd

SOURCE = Path(__file__).parent / "csrc" / "lifting_cpu.cpp"
DTYPES = (torch.float32, torch.float64)


def _compiler_flags() -> list[str]:
    """Optimised, OpenMP (ATen's ``parallel_for``), and the vector width of ATen's own CPU kernels here."""
    flags = ["-O3", "-fopenmp"]
    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "AVX512":
        avx512 = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"]
        flags += [*avx512, "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512"]
    elif capability == "AVX2":
        flags += ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]
    return flags


def _ninja_version(command: str) -> str:
    try:
        result = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()


def _ninja() -> tuple[str | None, str]:
    """The folder of the ninja the build uses (the ``ninja`` package's, installed with this package; None: the one on
    ``PATH``) and its version ("" where there is none)."""
    try:
        import ninja  # the Python package that ships the binary

        folder = getattr(ninja, "BIN_DIR", None)
    except ImportError:
        folder = None
    version = _ninja_version(str(Path(folder) / "ninja")) if folder else ""
    return (folder, version) if version else (None, _ninja_version("ninja"))


@contextlib.contextmanager
def _first_on_path(folder: str | None) -> Iterator[None]:
    """Within the block ``folder`` comes first on ``PATH`` (PyTorch's build runs the first ``ninja`` there)."""
    if folder is None:
        yield
        return
    before = os.environ.get("PATH", "")
    os.environ["PATH"] = folder + os.pathsep + before
    try:
        yield
    finally:
        os.environ["PATH"] = before


def _announce_build(directory: Path, name: str, file_baton: bool) -> None:
    """A line on stderr before a first build, and, where PyTorch locks builds with a file that must not exist (older
    PyTorch versions wait for it forever, built or not), which file to delete if one is left."""
    lock = directory / "lock"
    stale = f"; if it never ends, delete {lock} (left by a build that was stopped)" if lock.exists() else ""
    if not (directory / f"{name}.so").exists():
        print(f"LiftPool: building the C++ CPU kernels in {directory} (first use of this build, about 30 s){stale}",
              file=sys.stderr)  # fmt: skip
    elif file_baton and stale:
        print(f"LiftPool: loading the C++ CPU kernels from {directory}{stale}", file=sys.stderr)


@functools.cache
def extension() -> ModuleType | None:
    """The compiled kernels, or None (``LIFTPOOL_NATIVE=0``, not Linux, or the build failed: warned once).

    The build is named by a digest of the source, the flags, the Python build, the PyTorch version and the ninja
    version, so two versions of the package, or two environments with different PyTorch or ninja versions, on one
    machine neither rebuild over each other nor load a library built against another PyTorch (nor wait on another
    version's lock file). The build runs the ``ninja`` package's
    binary wherever it is installed, whatever ``PATH`` says. A first build says so on stderr; only Linux (gcc/clang
    with OpenMP) is built and tested.
    """
    if not backend_config.native_enabled() or not sys.platform.startswith("linux"):
        return None
    from torch.utils import cpp_extension  # imported here: it is slow to import and only needed to build

    flags = _compiler_flags()
    try:
        python = f"{sys.version_info[:2]}{sys.abiflags}"  # 3.13 and free-threaded 3.13t are different builds
        ninja_folder, ninja_version = _ninja()
        versions = f"{' '.join(flags)} python {python} torch {torch.__version__} ninja {ninja_version}"
        name = f"liftpool_lifting_cpu_{hashlib.sha256(SOURCE.read_bytes() + versions.encode()).hexdigest()[:12]}"
        root = os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()  # as PyTorch's
        directory = Path(root) / name
        directory.mkdir(parents=True, exist_ok=True)
        _announce_build(directory, name, file_baton=not hasattr(cpp_extension, "FileLock"))
        with _first_on_path(ninja_folder):
            return cpp_extension.load(
                name, [str(SOURCE)], extra_cflags=flags, extra_ldflags=["-fopenmp"], build_directory=str(directory)
            )
    except Exception as error:  # no compiler or ninja, a source missing from the install: PyTorch steps serve
        message = str(error).strip().splitlines()
        warnings.warn(
            f"LiftPool's C++ CPU kernels could not be built ({message[-1] if message else type(error).__name__}); "
            "using the slower PyTorch path (same results). Set LIFTPOOL_NATIVE=0 to skip the build.",
            stacklevel=3,
        )
        return None


def _built_extension() -> ModuleType:
    """``extension()`` for the ops, which run only where ``built()`` is true."""
    module = extension()
    if module is None:
        raise RuntimeError("LiftPool's C++ CPU kernels are not built: the native steps cannot run")
    return module


@torch.compiler.assume_constant_result  # torch.compile: a constant of the graph, not traced (no graph break)
def built() -> bool:
    """Whether the extension is there (builds it on the first call)."""
    return extension() is not None


# ---------------------------------------------------------------------------------------------- forward step
@torch.library.custom_op("liftpool::native_lift_rows", mutates_args=())
def _native_lift(
    x: Tensor,
    images: bool,
    left: int,
    right: int,
    mode: str,
    activation: str,
    with_losses: bool,
    losses_reach_input: bool,
    weights: list[Tensor],
) -> list[Tensor]:
    """[bands (2, *batch, L/2, R, C), c_u, c_p]; ``x`` rows or, with ``images``, see ``as_rows``."""
    x = as_rows(x, images)
    sources = tap_sources(x.shape[-3] // 2, op_padding(left, right, mode))
    bands, sums = _built_extension().lift_forward(input_rows(x), sources, weights, with_losses, activation == "tanh")
    count = bands[0].numel()
    totals = sums.tolist() if with_losses else [0.0, 0.0]
    c_u, c_p = (x.new_tensor(total / count) for total in totals)
    return [bands.view(2, *x.shape[:-3], *bands.shape[-3:]), c_u, c_p]


@_native_lift.register_fake
def _(x, images, left, right, mode, activation, with_losses, losses_reach_input, weights):
    x = as_rows(x, images)
    half = (*x.shape[:-3], x.shape[-3] // 2, *x.shape[-2:])
    return [x.new_empty(2, *half), x.new_empty(()), x.new_empty(())]


@torch.library.custom_op("liftpool::native_lift_rows_backward", mutates_args=())
def _native_lift_backward(
    grad_bands: Tensor,
    grad_c_u: Tensor,
    grad_c_p: Tensor,
    x: Tensor,
    bands: Tensor,
    kept: list[Tensor],
    x_size: list[int],
    x_strides: list[int],
    images: bool,
    left: int,
    right: int,
    mode: str,
    activation: str,
    with_losses: bool,
    losses_reach_input: bool,
    weights: list[Tensor],
) -> list[Tensor]:
    """[grad of x (laid out by ``x_strides``), grads of P's then U's parameters (empty for a missing bias)]; the
    losses' gradients reach x only with ``losses_reach_input``. P and U are recomputed from ``x`` (nothing kept)."""
    grad_x = new_empty(bands, x_size, x_strides)
    rows = input_rows(as_rows(x, images))
    sources = tap_sources(rows.shape[2] // 2, op_padding(left, right, mode))
    count = bands[0].numel()
    grads = write_rows(
        grad_x,
        images,
        lambda grad_rows: _built_extension().lift_backward(
            grad_bands.reshape(2, *rows.shape[:2], *grad_bands.shape[-3:]),
            grad_c_u.item() / count,
            grad_c_p.item() / count,
            rows,
            bands.view(2, *rows.shape[:2], *bands.shape[-3:]),
            grad_rows,
            sources,
            weights,
            losses_reach_input,
            activation == "tanh",
        ),
    )
    return [grad_x, *grads]


@_native_lift_backward.register_fake
def _(grad_bands, grad_c_u, grad_c_p, x, bands, kept, x_size, x_strides, images, left, right, mode, activation,
      with_losses, losses_reach_input, weights):  # fmt: skip
    return [new_empty(bands, x_size, x_strides), *(w.new_empty(w.shape) for w in weights)]


register_lift_autograd(_native_lift, _native_lift_backward)


# ---------------------------------------------------------------------------------------------- inverse step
@torch.library.custom_op("liftpool::native_unlift_rows", mutates_args=())
def _native_unlift(
    bands: Tensor, left: int, right: int, mode: str, activation: str, channels_first: bool, weights: list[Tensor]
) -> list[Tensor]:
    """[rows ``(*batch, 2n, R, C)``] from bands ``(2, *batch, n, R, C)`` (contiguous)."""
    sources = tap_sources(bands.shape[-3], op_padding(left, right, mode))
    out = unlift_output(bands, channels_first)

    def kernel(out_rows: Tensor) -> None:
        band_rows = bands.view(2, *out_rows.shape[:2], *bands.shape[-3:])
        _built_extension().unlift_forward(band_rows, out_rows, sources, weights, activation == "tanh")

    write_rows(out, False, kernel)
    return [out]


@_native_unlift.register_fake
def _(bands, left, right, mode, activation, channels_first, weights):
    return [unlift_output(bands, channels_first)]


@torch.library.custom_op("liftpool::native_unlift_rows_backward", mutates_args=())
def _native_unlift_backward(
    grad_x: Tensor, bands: Tensor, kept: list[Tensor], left: int, right: int, mode: str, activation: str,
    weights: list[Tensor],
) -> list[Tensor]:  # fmt: skip
    """[grad of bands, grads of P's then U's parameters (empty for a missing bias)]; P and U recomputed."""
    sources = tap_sources(bands.shape[-3], op_padding(left, right, mode))
    rows = input_rows(grad_x)
    band_rows = bands.view(2, *rows.shape[:2], *bands.shape[-3:])
    grad_bands, *grads = _built_extension().unlift_backward(rows, band_rows, sources, weights, activation == "tanh")
    return [grad_bands.view(bands.shape), *grads]


@_native_unlift_backward.register_fake
def _(grad_x, bands, kept, left, right, mode, activation, weights):
    return [bands.new_empty(bands.shape), *(w.new_empty(w.shape) for w in weights)]


register_unlift_autograd(_native_unlift, _native_unlift_backward)
register_float32_autocast(_native_lift, _native_lift_backward, _native_unlift, _native_unlift_backward)


# ---------------------------------------------------------------------------------------------- the backend
class NativeKernels(StepBackend):
    """The C++ kernels: CPU float32/float64, Linux, built on first use."""

    name = "native"

    def input_reasons(self, x: Tensor, half_lengths: Sequence[int], *, forced: bool) -> list[str]:
        if x.device.type != "cpu":
            return [f"a {x.device.type} tensor (the C++ kernels run on CPU)"]
        if x.dtype not in DTYPES:
            return [f"{x.dtype} (the C++ kernels take float32 and float64)"]
        if not backend_config.native_enabled():
            return ["LIFTPOOL_NATIVE=0"]
        if not sys.platform.startswith("linux"):
            return [f"built and tested on Linux only, not {sys.platform}"]
        if not built():
            return ["the C++ build failed (warned on first use)"]
        return []

    def lift_rows(
        self, x: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights, with_losses: bool,
        images: bool = False, losses_reach_input: bool = False, activation: str = "tanh",
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        weights = pack_weights(predict, update, x)
        bands, c_u, c_p = _native_lift(x, images, *padding, activation, with_losses, losses_reach_input, weights)
        return bands, c_u, c_p

    def unlift_rows(
        self, bands: Tensor, *, padding: Padding, predict: OperatorWeights, update: OperatorWeights,
        channels_first: bool = False, activation: str = "tanh",
    ) -> Tensor:  # fmt: skip
        flat = pack_weights(predict, update, bands)
        return _native_unlift(bands.contiguous(), *padding, activation, channels_first, flat)[0]


BACKEND = NativeKernels()
