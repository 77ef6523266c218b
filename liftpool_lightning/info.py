"""``liftpool info``: the versions that matter, the devices, and which lifting backend serves a LiftPool layer on
each device and dtype, with the reason every other backend does not (``nn.backends.explain_backend``).

What a bug report needs, and the answer to "does my GPU run the Triton kernels?" without reading the code.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable

import torch

from liftpool_lightning import __version__
from liftpool_lightning.nn import LiftDownPool2d, LiftUpPool2d, backend_config
from liftpool_lightning.nn.backends import BackendReport, explain_backend

PACKAGES = ("torch", "lightning", "torchvision", "torchmetrics", "jsonargparse", "triton")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def devices() -> list[str]:
    """The CPU, then every CUDA device."""
    return ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]


def dtypes(device: str) -> list[torch.dtype]:
    """The dtypes a layer is usually run in on ``device``."""
    if device == "cpu":
        return [torch.float32, torch.float64]
    return [torch.float32, torch.bfloat16, torch.float16]


def backend_reports(device: str, dtype: torch.dtype, channels: int = 64, size: int = 32) -> list[BackendReport]:
    """What serves a default ``LiftDownPool2d`` and its ``LiftUpPool2d`` on a ``(2, channels, size, size)`` input."""
    down = LiftDownPool2d(channels, device=device, dtype=dtype)
    x = torch.zeros(2, channels, size, size, device=device, dtype=dtype)
    low = torch.zeros(2, channels, size // 2, size // 2, device=device, dtype=dtype)
    return [explain_backend(down, x), explain_backend(LiftUpPool2d(down), low)]


def run_info(echo: Callable[[str], None] = print) -> None:
    """Print the versions, the switches and the backend of each device and dtype through ``echo``."""
    echo(f"liftpool-lightning {__version__}, Python {platform.python_version()}, {platform.platform()}")
    echo("packages: " + ", ".join(f"{name} {_version(name)}" for name in PACKAGES))
    echo(f"CUDA: {torch.version.cuda or 'not in this torch build'}, devices: {torch.cuda.device_count()}")
    for index in range(torch.cuda.device_count()):
        echo(f"  cuda:{index}: {torch.cuda.get_device_name(index)}")
    echo(
        "switches: LIFTPOOL_NATIVE="
        + ("1" if backend_config.native_enabled() else "0")
        + ", LIFTPOOL_TRITON="
        + ("1" if backend_config.triton_enabled() else "0")
        + ", TRITON_INTERPRET="
        + ("1" if backend_config.triton_interpreted() else "0")
    )
    echo("lifting backend of a default LiftDownPool2d / LiftUpPool2d (64 channels), and why not the others:")
    for device in devices():
        for dtype in dtypes(device):
            for report in backend_reports(device, dtype):
                echo("  " + str(report).replace("\n", "\n  "))
