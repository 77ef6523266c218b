"""The C++ CPU kernels (``native_lifting``): same numbers as the PyTorch steps on realistic channel counts, layouts
and thread counts; what they keep for the backward; how the build is found, skipped or falls back."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils import cpp_extension

from liftpool_lightning import LiftDownPool2d, LiftDownPool3d, LiftUpPool2d, lifting_loss
from liftpool_lightning.nn import native_lifting
from liftpool_lightning.nn._step_common import Padding, five_d, tap_sources
from liftpool_lightning.nn.backend_config import use_backend
from liftpool_lightning.nn.backends import select
from liftpool_lightning.nn.padding import padding_index

pytestmark = pytest.mark.skipif(
    os.environ.get("LIFTPOOL_NATIVE") == "0" or not sys.platform.startswith("linux"),
    reason="C++ kernels off (LIFTPOOL_NATIVE=0) or not built here (Linux only)",
)


def _step(layer: LiftDownPool2d, x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs, losses and all gradients of down + up pooling (all bands) with the lifting losses."""
    up = LiftUpPool2d(layer)
    x = x.detach().requires_grad_()
    pooled = layer(x)
    rebuilt = up(pooled, layer.last_bands)
    loss = pooled.sin().mean() + rebuilt.square().mean() + lifting_loss(layer, 0.3, 0.7)
    return [pooled, rebuilt, *layer.last_losses, *torch.autograd.grad(loss, [x, *layer.parameters()])]


def _reasons(x: torch.Tensor) -> list[str]:
    return native_lifting.BACKEND.input_reasons(x, (1,), forced=False)


def test_the_kernels_build_and_serve_cpu_float32_and_float64() -> None:
    assert native_lifting.built()
    assert _reasons(torch.ones(1)) == [] and _reasons(torch.ones(1, dtype=torch.float64)) == []
    bfloat16 = torch.ones(1, dtype=torch.bfloat16)
    assert _reasons(bfloat16) == ["torch.bfloat16 (the C++ kernels take float32 and float64)"]
    assert _reasons(torch.ones(1, device="meta")) == ["a meta tensor (the C++ kernels run on CPU)"]


@pytest.mark.parametrize(
    ("channels", "size"),
    [
        (21, (10, 14)),  # full vectors (8/16 lanes) plus a remainder
        (64, (10, 14)),  # whole vectors only
        (21, (40, 38)),  # larger slabs (second step: 20 x 19 x 21 values), odd widths
        (64, (32, 30)),
    ],
)
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(
    ("padding_mode", "activation"), [("symmetric", "tanh"), ("zeros", "tanh"), ("symmetric", "identity")]
)
def test_native_matches_pytorch_steps(
    channels: int,
    size: tuple[int, int],
    memory_format: torch.memory_format,
    padding_mode: str,
    activation: str,
) -> None:
    torch.manual_seed(0)
    layer = LiftDownPool2d(channels, padding_mode=padding_mode, init="kaiming", activation=activation)
    with torch.no_grad():  # away from the initialisation, so every term of the gradients matters
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(2, channels, *size).contiguous(memory_format=memory_format)
    assert select(x, layer) is native_lifting.BACKEND
    got = _step(layer, x)
    with use_backend("pytorch"):
        assert select(x, layer).name == "pytorch"
        expected = _step(layer, x)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=2e-4, atol=2e-5)


def test_results_do_not_depend_on_the_thread_count() -> None:
    torch.manual_seed(0)
    layer = LiftDownPool2d(24, dtype=torch.float64, init="kaiming")
    x = torch.randn(4, 24, 12, 12, dtype=torch.float64)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = _step(layer, x)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(_step(layer, x), single, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_a_step_keeps_only_its_input_and_output_bands_for_the_backward() -> None:
    layer = LiftDownPool2d(8, init="kaiming")
    x = torch.randn(2, 8, 12, 12, requires_grad=True)
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        layer(x)
    parameters = sum(p.numel() * p.element_size() for p in layer.parameters())
    # x, the band buffer after W (= x's size) and after H (= x's size, the bands the forward sums)
    assert sum(storages.values()) == 3 * x.numel() * x.element_size() + parameters


def test_3d_input_whose_batch_axes_merge_in_no_view() -> None:
    """A slice of a 3-D input: no 5-D view covers the first step's rows, so the step works on a copy."""
    torch.manual_seed(0)
    layer = LiftDownPool3d(5, dtype=torch.float64, init="kaiming")
    generic = LiftDownPool3d(5, dtype=torch.float64, fused=False, init="kaiming")
    generic.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5, 4, 7, 8, dtype=torch.float64)[:, :, :, :6].requires_grad_()
    assert five_d(x.movedim(1, -1).unsqueeze(-2)) is None
    torch.testing.assert_close(layer(x), generic(x))
    grad, expected = (torch.autograd.grad(m(x).sum() + lifting_loss(m), x)[0] for m in (layer, generic))
    torch.testing.assert_close(grad, expected)


def test_gradient_keeps_a_dense_layout_that_no_rows_view_covers() -> None:
    """A permuted 3-D input (memory order D, N, C, H, W): the kernel writes the input gradient into a contiguous
    buffer, which is then copied into the input's layout (the one the fake function promises torch.compile)."""
    torch.manual_seed(0)
    layer = LiftDownPool3d(3, dtype=torch.float64, init="kaiming")
    generic = LiftDownPool3d(3, dtype=torch.float64, fused=False, init="kaiming")
    generic.load_state_dict(layer.state_dict())
    x = torch.randn(4, 2, 3, 6, 8, dtype=torch.float64).permute(1, 2, 0, 3, 4).requires_grad_()
    assert five_d(x.movedim(1, -1).unsqueeze(-2)) is None
    grad, expected = (torch.autograd.grad(m(x).sum() + lifting_loss(m), x)[0] for m in (layer, generic))
    torch.testing.assert_close(grad, expected)
    assert grad.stride() == x.stride()


@pytest.mark.parametrize("mode", ["symmetric", "reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("length", [1, 2, 5])
def test_tap_sources_follow_the_padding_rule(mode: str, length: int) -> None:
    sources = list(tap_sources(length, Padding(2, 3, mode)))
    if mode == "zeros":
        assert sources == [-1, -1, *range(length), -1, -1, -1]
    else:
        assert sources == padding_index(length, 2, 3, mode, torch.device("cpu")).tolist()


def test_rows_views_merge_batch_axes_or_report_none() -> None:
    channels_last = torch.randn(2, 5, 4, 8).permute(0, 2, 3, 1).unsqueeze(-2)  # (2, 4, 8, 1, 5), strided channels
    assert five_d(channels_last).shape == (2, 4, 8, 1, 5)
    assert five_d(torch.randn(2, 3, 4, 6, 2, 5)).shape == (2, 12, 6, 2, 5)
    interleaved = torch.randn(3, 2, 4, 6, 2, 5).transpose(0, 1)[:, :, ::2]  # batch (2, 3, 2): no 2-axis view
    assert five_d(interleaved) is None
    assert five_d(torch.randn(6, 2, 3)).shape == (1, 1, 6, 2, 3)


def test_a_failed_build_warns_once_and_the_layers_use_the_pytorch_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_build(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Error building extension 'liftpool_lifting_cpu'\nc++: command not found")

    monkeypatch.setattr(cpp_extension, "load", broken_build)
    native_lifting.extension.cache_clear()
    try:
        with pytest.warns(UserWarning, match="c\\+\\+: command not found.*LIFTPOOL_NATIVE=0"):
            assert native_lifting.extension() is None
        assert _reasons(torch.ones(1)) == ["the C++ build failed (warned on first use)"]  # cached: no second build
        layer = LiftDownPool2d(4, init="kaiming")
        assert layer(torch.randn(1, 4, 6, 6)).shape == (1, 4, 3, 3)
    finally:
        native_lifting.extension.cache_clear()


def test_liftpool_native_0_skips_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTPOOL_NATIVE", "0")
    monkeypatch.setattr(cpp_extension, "load", lambda *a, **k: pytest.fail("built despite LIFTPOOL_NATIVE=0"))
    native_lifting.extension.cache_clear()
    try:
        assert native_lifting.extension() is None
    finally:
        native_lifting.extension.cache_clear()


def test_builds_are_kept_apart_per_pytorch_version_and_a_first_build_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    builds: list[tuple[str, str]] = []
    monkeypatch.setattr(cpp_extension, "load", lambda name, *a, **k: builds.append((name, k["build_directory"])) or 1)

    def build(version: str) -> str:
        monkeypatch.setattr(torch, "__version__", version)
        native_lifting.extension.cache_clear()
        assert native_lifting.extension() == 1
        return capsys.readouterr().err

    try:
        first, second = build("2.11.0"), build("2.14.1")
        (old, old_directory), (new, new_directory) = builds
        assert old != new and Path(old_directory) == tmp_path / old and Path(new_directory) == tmp_path / new
        message = "LiftPool: building the C++ CPU kernels in {} (first use of this build, about 30 s)\n"
        assert first == message.format(old_directory)
        assert second == message.format(new_directory)
        lock = tmp_path / new / "lock"
        lock.touch()  # a build stopped half-way leaves its lock: the message says what to delete
        assert f"if it never ends, delete {lock} (left by a build that was stopped)" in build("2.14.1")
        (tmp_path / new / f"{new}.so").touch()  # built: loading says nothing where the lock file is harmless ...
        assert build("2.14.1") == ""
        monkeypatch.delattr(cpp_extension, "FileLock", raising=False)  # ... not before 2.14, which waits for it
        assert build("2.14.1") == (
            f"LiftPool: loading the C++ CPU kernels from {tmp_path / new}; if it never ends, delete {lock} "
            "(left by a build that was stopped)\n"
        )
    finally:
        native_lifting.extension.cache_clear()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the C++ kernels are built on Linux only")
def test_the_same_build_loads_whatever_ninja_is_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``ninja`` package's binary runs the build: another ninja first on PATH, or none at all, neither rebuilds
    the extension (two versions rewrite each other's build log) nor fails it."""
    monkeypatch.delenv("LIFTPOOL_NATIVE", raising=False)
    native_lifting.extension.cache_clear()
    assert native_lifting.built()
    library = Path(native_lifting.extension().__file__)
    before = library.stat().st_mtime_ns
    code = "from liftpool_lightning.nn import native_lifting as n; print(n.extension().__file__ if n.built() else '')"
    for path in ("/usr/bin:/bin", f"{Path(sys.executable).parent}:/usr/bin:/bin", "/no-such-folder"):
        result = subprocess.run(
            [sys.executable, "-W", "error::UserWarning", "-c", code],
            env={**os.environ, "PATH": path},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == str(library), (path, result.stderr[-2000:])
        assert "building" not in result.stderr
    assert library.stat().st_mtime_ns == before
