"""Export (issue 17, section 1): ONNX and torch.export graphs of LiftPool networks hold standard ops only, ONNX
Runtime and a program loaded without this package agree with PyTorch on another batch size, ``liftpool export``
writes a checkpoint's network, and ``torch.jit.script`` points to export."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torchvision
from lightning.pytorch import Trainer

from liftpool_lightning.cli import main
from liftpool_lightning.export import EXTRA_HINT, export_model
from liftpool_lightning.models.small_segnet import SmallSegNet
from liftpool_lightning.nn.pool import LiftDownPool2d, LiftDownPoolNd
from liftpool_lightning.nn.up_pool import LiftUpPoolNd
from liftpool_lightning.surgery import DOWN_POOLS, replace_pooling
from liftpool_lightning.tasks import ClassificationTask

ort = pytest.importorskip("onnxruntime")  # in the dev and export extras
onnx = pytest.importorskip("onnx")

TOLERANCE = 1e-4


def _quickstart() -> torch.nn.Module:
    return ClassificationTask("small_vgg", num_classes=8, pool="lift").network


def _resnet18() -> torch.nn.Module:
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    replace_pooling(model, pool="lift", example_input=(1, 3, 64, 64))
    return model


def _segnet() -> torch.nn.Module:
    model = SmallSegNet(num_classes=3)  # an encoder-decoder: three LiftDownPool + LiftUpPool pairs
    replace_pooling(model, pool="lift", example_input=(1, 3, 32, 32))
    return model


MODELS = {  # builder, spatial size of the input
    "quickstart": (_quickstart, 32),
    "resnet18": (_resnet18, 64),
    "segnet": (_segnet, 32),
}


def _built(name: str) -> tuple[torch.nn.Module, int]:
    torch.manual_seed(0)
    build, size = MODELS[name]
    model = build().eval()
    for module in model.modules():  # training moves BN statistics off identity: the comparison then sees them
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model, size


def _lift_layers(model: torch.nn.Module) -> tuple[int, int]:
    modules = list(model.modules())
    return sum(isinstance(m, LiftDownPoolNd) for m in modules), sum(isinstance(m, LiftUpPoolNd) for m in modules)


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_runtime_matches_pytorch_on_another_batch_size(name: str, tmp_path: Path) -> None:
    model, size = _built(name)
    downs, ups = _lift_layers(model)
    assert downs > 0 and (ups > 0 if name == "segnet" else True)
    path = export_model(model, torch.randn(2, 3, size, size), tmp_path / "model.onnx", dynamic_batch=True)
    ops = {node.domain or "ai.onnx" for node in onnx.load(str(path)).graph.node}
    assert all(not domain.startswith("liftpool") for domain in ops), ops
    x = torch.randn(3, 3, size, size)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    difference = (torch.from_numpy(got) - expected).abs().max().item()
    print(f"{name}: max |ORT - PyTorch| = {difference:.3g}")
    assert got.shape == tuple(expected.shape)
    assert difference <= TOLERANCE


def test_torch_export_program_runs_without_the_package(tmp_path: Path) -> None:
    model, size = _built("segnet")
    path = export_model(
        model, torch.randn(2, 3, size, size), tmp_path / "model.pt2", format="torch_export", dynamic_batch=True
    )
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        expected = model(x)
    torch.save({"x": x, "expected": expected}, tmp_path / "io.pt")
    code = textwrap.dedent(
        f"""
        import sys
        import torch
        program = torch.export.load({str(path)!r})
        names = {{str(node.target) for node in program.graph.nodes if node.op == "call_function"}}
        assert not any("liftpool" in name for name in names), names
        io = torch.load({str(tmp_path / "io.pt")!r}, weights_only=True)
        got = program.module()(io["x"])
        assert "liftpool_lightning" not in sys.modules
        print("DIFF", (got - io["expected"]).abs().max().item())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.split("DIFF")[1]) <= TOLERANCE


def test_export_model_restores_training_mode_and_rejects_bad_arguments(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), LiftDownPool2d(4)).train()
    with pytest.raises(ValueError, match="format must be one of onnx, torch_export"):
        export_model(model, torch.randn(1, 3, 8, 8), tmp_path / "m", format="tflite")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="opset applies to format='onnx' only"):
        export_model(model, torch.randn(1, 3, 8, 8), tmp_path / "m.pt2", format="torch_export", opset=18)
    export_model(model, torch.randn(1, 3, 8, 8), tmp_path / "m.pt2", format="torch_export")
    assert model.training and (tmp_path / "m.pt2").is_file()


def test_onnx_opset_is_the_one_asked_for_or_an_error(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), LiftDownPool2d(4))
    path = export_model(model, torch.randn(1, 3, 8, 8), tmp_path / "m.onnx", opset=18)
    assert [entry.version for entry in onnx.load(str(path)).opset_import if entry.domain in ("", "ai.onnx")] == [18]
    with pytest.raises(ValueError, match="could not write opset 9"):
        export_model(model, torch.randn(1, 3, 8, 8), tmp_path / "m9.onnx", opset=9)
    assert not (tmp_path / "m9.onnx").exists()


def test_missing_onnx_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # what an environment without it gives: ImportError
    model, size = _built("quickstart")
    with pytest.raises(ImportError, match=r"pip install 'liftpool-lightning\[export\]'"):
        export_model(model, torch.randn(1, 3, size, size), tmp_path / "m.onnx")
    assert EXTRA_HINT == "pip install 'liftpool-lightning[export]'"


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torch_jit_script_points_to_export() -> None:
    model, _ = _built("quickstart")
    with pytest.raises(RuntimeError, match="liftpool export"):
        torch.jit.script(model)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quickstart-style checkpoint (small_vgg, lift pooling, 8 classes), written by Lightning's Trainer."""
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    task = ClassificationTask("small_vgg", num_classes=8, pool="lift")
    trainer = Trainer(default_root_dir=root, logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(task)
    path = root / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.mark.parametrize("fmt", ["onnx", "torch_export"])
def test_console_command_writes_the_file(checkpoint: Path, fmt: str, tmp_path: Path) -> None:
    output = tmp_path / f"out.{fmt}"
    args = ["export", "--ckpt_path", str(checkpoint), "--format", fmt, "--output", str(output), "--dynamic-batch"]
    result = subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", *args], capture_output=True, text=True, check=False, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.is_file() and f"wrote {output}" in result.stdout
    if fmt == "onnx":  # the checkpoint's network, on another batch size than the example's (1)
        session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        (logits,) = session.run(None, {"input": torch.randn(3, 3, 32, 32).numpy()})
        assert logits.shape == (3, 8)


def test_console_command_errors_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.ckpt"
    result = subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", "export", "--ckpt_path", str(missing)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"liftpool export: error: checkpoint {missing} does not exist"


def _onnx_difference(model: torch.nn.Module, tmp_path: Path) -> float:
    """Largest |onnxruntime - PyTorch| of ``model`` (16x16 images) exported with a dynamic batch, on another batch."""
    model.eval()
    path = export_model(model, torch.randn(2, 3, 16, 16), tmp_path / "model.onnx", dynamic_batch=True)
    x = torch.randn(3, 3, 16, 16)
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    return (torch.from_numpy(got) - expected).abs().max().item()


@pytest.mark.parametrize("pool", DOWN_POOLS)
def test_every_pool_of_the_surgery_exports_to_onnx(pool: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 4, 3, padding=1),
        torch.nn.MaxPool2d(2),
    )
    replace_pooling(model, pool=pool, example_input=(1, 3, 16, 16))
    assert _onnx_difference(model, tmp_path) <= TOLERANCE


@pytest.mark.parametrize(
    ("pool", "up_pool"),
    [("max", "maxunpool"), ("max", "maxunpool+blur"), ("max", "bilinear"), ("blur", "maxunpool"),
     ("blur", "maxunpool+blur"), ("lift", "bilinear")],
)  # fmt: skip
def test_every_encoder_decoder_of_the_surgery_exports_to_onnx(pool: str, up_pool: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SmallSegNet(num_classes=3, widths=(4, 8))
    replace_pooling(model, pool=pool, up_pool=up_pool, example_input=(1, 3, 16, 16))
    assert _onnx_difference(model, tmp_path) <= TOLERANCE


def _export(*args: str) -> subprocess.CompletedProcess:
    """``liftpool export ARGS`` in this process (as the console command runs it): its exit status and output."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["export", *args])
    return subprocess.CompletedProcess(["liftpool", "export", *args], status, out.getvalue(), err.getvalue())


def test_export_never_writes_over_the_checkpoint_or_an_existing_file(checkpoint: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run.ckpt"
    copy.write_bytes(checkpoint.read_bytes())
    for extra in ([], ["--overwrite"]):  # the checkpoint itself: refused even with --overwrite
        result = _export("--ckpt_path", str(copy), "--output", str(copy), *extra)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"liftpool export: error: --output {copy} is the checkpoint being exported; choose another file"
        ]
    assert copy.read_bytes() == checkpoint.read_bytes()
    mine = tmp_path / "run.onnx"  # the default output name, already taken by a file the user made
    mine.write_text("my notes")
    result = _export("--ckpt_path", str(copy))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"liftpool export: error: {mine} already exists; pass --overwrite to replace"
    ]
    assert mine.read_text() == "my notes"
    result = _export("--ckpt_path", str(copy), "--overwrite")
    assert result.returncode == 0, result.stderr[-3000:]
    assert onnx.load(str(mine)).graph.node


def test_a_small_model_is_one_onnx_file_that_runs_alone(checkpoint: Path, tmp_path: Path) -> None:
    output = tmp_path / "written" / "model.onnx"
    result = _export("--ckpt_path", str(checkpoint), "--output", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in output.parent.iterdir()) == ["model.onnx"]
    alone = tmp_path / "elsewhere" / "copied.onnx"
    alone.parent.mkdir()
    alone.write_bytes(output.read_bytes())
    session = ort.InferenceSession(str(alone), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": torch.randn(1, 3, 32, 32).numpy()})
    assert logits.shape == (1, 8)


def test_large_weights_go_beside_the_file_and_the_message_names_both(tmp_path: Path, monkeypatch) -> None:
    import liftpool_lightning.export as export

    monkeypatch.setattr(export, "ONNX_SINGLE_FILE_LIMIT", 1000)  # the tiny model counts as large
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.LazyLinear(4))
    model(torch.randn(1, 3, 8, 8))
    path = export_model(model, torch.randn(1, 3, 8, 8), tmp_path / "big.onnx")
    assert export.external_data_path(path).is_file()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": torch.randn(1, 3, 8, 8).numpy()})[0].shape == (1, 4)


def test_an_input_too_small_for_the_network_is_one_line(checkpoint: Path, tmp_path: Path) -> None:
    result = _export("--ckpt_path", str(checkpoint), "--output", str(tmp_path / "x.onnx"), "--input-size", "1")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("liftpool export: error: the network does not run on a 3x1x1 input (")
    assert line.endswith("); choose another --input-size")
    assert not (tmp_path / "x.onnx").exists()


def test_a_checkpoint_exports_without_what_the_run_started_from(checkpoint: Path, tmp_path: Path) -> None:
    """A run started from a backbone file that exists only where it trained: its checkpoint still exports (the
    weights are in the checkpoint; nothing is fetched or read again)."""
    content = torch.load(checkpoint, weights_only=True)
    content["hyper_parameters"]["backbone_checkpoint"] = str(tmp_path / "only-on-the-cluster" / "backbone.ckpt")
    moved = tmp_path / "moved.ckpt"
    torch.save(content, moved)
    result = _export("--ckpt_path", str(moved), "--output", str(tmp_path / "moved.onnx"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "moved.onnx").is_file()
