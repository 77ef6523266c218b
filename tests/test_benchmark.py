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


def test_markdown_report_tabulates_every_variant_against_its_baseline() -> None:
    from benchmarks.bench_liftpool import markdown_report

    options = {"bf16": False, "channels_last": False, "compile": False, "repeats": 10, "warmup": 3, "rounds": 3}
    results = {
        "device": "cpu",
        "device_name": "Some CPU, 2 cores",
        "torch": "2.x",
        "options": options,
        "vgg13": {
            "ms": {"max": 500.0, "lift": 550.0, "lift (eager)": 540.0},
            "peak_mb": {"max": 1000.0, "lift": 1010.0, "lift (eager)": 1020.0},
            "saved_activation_mb": {"max": 180.0, "lift": 225.0},
        },
        "layers": [
            {
                "shape": "64x64x32x32",
                "max_ms": 2.0,
                "fused_ms": 5.0,
                "torch_ops_ms": 9.0,
                "generic_ms": 15.0,
                "reference_ms": 40.0,
                "error": 3e-6,
            }
        ],
    }
    text = markdown_report(results, "python benchmarks/bench_liftpool.py --workloads vgg13 layers")
    lines = text.splitlines()
    assert lines[0] == "`python benchmarks/bench_liftpool.py --workloads vgg13 layers`"
    assert "Some CPU, 2 cores (cpu), torch 2.x, float32;" in lines[2]
    assert "| `vgg13_bn_cifar`, batch 64, 32x32 | max | 500 | 1.00x | 1000 | 1.00x | 180 | 1.00x |" in lines
    assert "|  | lift | 550 | 1.10x | 1010 | 1.01x | 225 | 1.25x |" in lines
    assert "|  | lift (eager) | 540 | 1.08x | 1020 | 1.02x |  |  |" in lines  # not counted for backward
    assert "| 64x64x32x32 | 2.00 | 5.00 | 2.50x | 1.80x | 3.00x | 8.00x | 3.0e-06 |" in lines
    header_cells = [line.count("|") for line in lines if line.startswith("|")]
    assert len(set(header_cells[:5])) == 1  # every row of the workload table has the header's columns


def test_profile_steps_counts_each_ops_calls_per_step() -> None:
    import torch

    from benchmarks.profile_step import profile_steps

    a, b = torch.randn(16, 16), torch.randn(16, 16)
    times = profile_steps(lambda: (a @ b).relu(), steps=3, warmup=1)
    assert times["aten::mm"][1] == 1 and times["aten::relu"][1] == 1
    assert all(ms >= 0 for ms, _ in times.values())


def test_difference_table_lists_what_grew_most_and_adds_up() -> None:
    from benchmarks.profile_step import difference_table

    base = {"conv": (100.0, 4), "pool": (5.0, 2), "add": (10.0, 8)}
    other = {"conv": (104.0, 4), "lift": (20.0, 2), "add": (14.0, 10), "cat": (2.0, 1)}
    lines = difference_table("max", base, "lift", other, rows=2).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| `lift`", "| `conv`", "| the other 3 ops", "| **total**"]
    assert lines[2] == "| `lift` | 0.0 | 20.0 | +20.0 | 80% | 0 -> 2 |"  # 20 of the 25 ms more
    assert lines[4] == "| the other 3 ops | 15.0 | 16.0 | +1.0 | 4% |  |"  # add +4, cat +2, pool -5
    assert lines[5] == "| **total** | 115.0 | 140.0 | +25.0 | 100% | ratio 1.22x |"


def test_median_op_times_takes_each_ops_median_over_processes() -> None:
    from benchmarks.profile_step import median_op_times

    runs = [
        {"conv": (100.0, 4.0), "cat": (2.0, 1.0)},
        {"conv": (130.0, 4.0)},
        {"conv": (110.0, 4.0), "cat": (3.0, 1.0)},
    ]
    assert median_op_times(runs) == {"cat": (2.0, 1.0), "conv": (110.0, 4.0)}
