"""The benchmark script's building blocks work (it is a script, not a timed test: no times are asserted)."""

import argparse

from benchmarks.bench_liftpool import _layer_steps, saved_activation_mb, time_alternating


def test_time_alternating_runs_every_step_in_turn() -> None:
    calls: list[str] = []
    steps = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = time_alternating(steps, "cpu", warmup=1, repeats=3)
    assert calls == ["a", "b"] * 4
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_layer_steps_check_the_fused_layer_against_the_reference() -> None:
    steps, error = _layer_steps((2, 8, 8, 8), "cpu")
    assert set(steps) == {"max", "fused", "torch_ops", "generic", "reference"}
    assert error < 1e-4
    for step in steps.values():
        step()


def test_saved_activations_count_what_backward_keeps() -> None:
    options = argparse.Namespace(device="cpu")
    baseline = saved_activation_mb("vgg13", "max", options)
    lift = saved_activation_mb("vgg13", "lift", options)
    assert 100 < baseline < lift  # VGG13-BN keeps ~180 MB at batch 64; LiftPool's steps keep more


def test_each_variant_runs_on_its_backend(monkeypatch) -> None:
    import pytest
    import torch

    from benchmarks.bench_liftpool import PYTORCH_STEPS, TRITON, on_backend
    from liftpool_lightning import LiftDownPool2d
    from liftpool_lightning.nn import backend_config, triton_lifting
    from liftpool_lightning.nn.backends import select

    monkeypatch.setenv("TRITON_INTERPRET", "1")  # Triton may take CPU tensors
    layer, x = LiftDownPool2d(4), torch.zeros(1, 4, 8, 8)
    with on_backend("lift"):
        assert backend_config.forced_backends() is None  # the default choice
    with on_backend(PYTORCH_STEPS):
        assert select(x, layer).name == "pytorch"
    if not triton_lifting.available():
        pytest.skip("Triton is not installed")
    with on_backend(TRITON):
        assert select(x, layer).name == "triton"
        assert select(x.double(), layer).name == "pytorch"  # float64: the Triton kernels pass it on


def test_the_blur_variant_is_the_anti_aliasing_reference() -> None:
    from benchmarks.bench_liftpool import BLUR, _network
    from liftpool_lightning.nn.baselines import MaxBlurPool
    from liftpool_lightning.surgery.wrappers import MaxUnpoolBlur

    vgg = _network("vgg13", BLUR, "cpu")
    assert any(isinstance(module, MaxBlurPool) for module in vgg.modules())
    segnet = _network("segnet", BLUR, "cpu")
    assert any(isinstance(module, MaxUnpoolBlur) for module in segnet.modules())
    assert not any(isinstance(module, MaxBlurPool) for module in segnet.modules())  # the encoder keeps MaxPool
