"""Export a network with LiftPool layers to ONNX or to a ``torch.export`` program, and the ``liftpool export`` command.

The layers' fast paths (the C++, Triton and PyTorch step backends) are ``torch.library`` custom ops
(``liftpool::...``) that neither ONNX nor a machine without this package knows. While a graph export traces a layer
(``torch.compiler.is_exporting()``: ``torch.export`` and the dynamo-based ONNX exporter;
``torch.onnx.is_in_onnx_export()``: the TorchScript-based one), the layer takes its generic path instead, which
computes the same function with standard torch ops (convolutions, ``index_select`` padding, ``tanh``). That check
sits in the layer itself, so a plain ``torch.onnx.export`` / ``torch.export.export`` of any model gets standard ops
too (with PyTorch older than 2.14 not a ``strict=True`` export: see ``nn.backend_config.exporting``);
:func:`export_model` is a convenience around those two calls, inside ``use_backend("generic")``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from liftpool_lightning.nn.backend_config import use_backend

ExportFormat = Literal["onnx", "torch_export"]
FORMATS: tuple[str, ...] = ("onnx", "torch_export")
_SUFFIX = {"onnx": ".onnx", "torch_export": ".pt2"}
EXTRA_HINT = "pip install 'liftpool-lightning[export]'"
ONNX_SINGLE_FILE_LIMIT = 1 << 30
"""Weights up to this many bytes go inside the ``.onnx`` file (one file to copy); larger models keep them in a
``<name>.onnx.data`` file beside it (an ONNX file itself holds at most 2 GiB)."""


def external_data_path(path: str | Path) -> Path:
    """The file beside an ONNX model ``path`` that holds its weights when they are too large for one file."""
    path = Path(path)
    return path.with_name(path.name + ".data")


def weight_bytes(module: nn.Module) -> int:
    """Bytes of the module's parameters and buffers (what an exported file stores as weights)."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def _require_onnx() -> None:
    """Raise ImportError naming the ``[export]`` extra when the ONNX exporter's packages are missing."""
    for name in ("onnx", "onnxscript"):
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"ONNX export needs the '{name}' package: {EXTRA_HINT}") from error


def export_model(
    module: nn.Module,
    example_input: Tensor,
    path: str | Path,
    format: ExportFormat = "onnx",
    opset: int | None = None,
    dynamic_batch: bool = False,
) -> Path:
    """Write ``module`` (run on ``example_input``) to ``path`` as an ONNX model or a ``torch.export`` program.

    The module is exported in eval mode (its training flag is restored afterwards); its LiftPool layers take their
    generic path (standard ops, see the module docstring). ``format="onnx"`` uses ``torch.onnx.export(dynamo=True)``
    (needs onnx and onnxscript: the ``[export]`` extra); the graph's input is named ``input``, its output ``output``.
    ``format="torch_export"`` writes ``torch.export.save`` of ``torch.export.export``: load it with
    ``torch.export.load(path).module()``, without this package. ``opset``: the ONNX opset version (None: the
    exporter's default); ONNX only. ``dynamic_batch``: the batch size is a symbol, so the file runs on any batch
    size (else only on ``example_input``'s); an example batch of one is traced doubled, as ``torch.export`` would
    otherwise fix the size to 1. Weights up to ``ONNX_SINGLE_FILE_LIMIT`` go inside the ``.onnx`` file; larger ones
    into ``external_data_path(path)``, which must then travel with it. Returns the path written.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if opset is not None and format != "onnx":
        raise ValueError("opset applies to format='onnx' only")
    if not isinstance(example_input, Tensor):
        raise TypeError(f"example_input must be a Tensor, got {type(example_input).__name__}")
    if format == "onnx":
        _require_onnx()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    if dynamic_batch and example_input.shape[0] == 1:  # torch.export takes a size of 1 for a constant: trace with 2
        example_input = torch.cat([example_input, example_input])
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), use_backend("generic"):  # the generic path, whichever way the exporter traces
            if format == "onnx":
                torch.onnx.export(
                    module,
                    (example_input,),
                    str(path),
                    dynamo=True,
                    input_names=["input"],
                    output_names=["output"],
                    opset_version=opset,
                    dynamic_shapes=dynamic_shapes,
                    external_data=weight_bytes(module) > ONNX_SINGLE_FILE_LIMIT,
                    verbose=False,
                )
            else:
                program = torch.export.export(module, (example_input,), dynamic_shapes=dynamic_shapes)
                torch.export.save(program, str(path))
    finally:
        module.train(was_training)
    if format == "onnx" and opset is not None:
        _check_opset(path, opset)
    return path


def _check_opset(path: Path, opset: int) -> None:
    """Raise ValueError (and remove ``path``) when the exporter wrote another opset than ``opset``: it converts its
    native opset (18 and up) to an older one where it can, and keeps the native one, with a logged warning, where
    it cannot."""
    import onnx

    written = next(
        (entry.version for entry in onnx.load(str(path)).opset_import if entry.domain in ("", "ai.onnx")), None
    )
    if written is not None and written != opset:
        path.unlink()
        raise ValueError(
            f"the ONNX exporter could not write opset {opset} (it gave opset {written}); use --opset {written} or "
            "leave --opset out"
        )


def checkpoint_network(ckpt_path: str | Path) -> tuple[nn.Module, tuple[int, int, int]]:
    """The network of a ``liftpool fit`` checkpoint (CPU, eval mode) and its default input shape ``(C, H, W)``."""
    from liftpool_lightning.checkpointing.build import task_from_checkpoint
    from liftpool_lightning.models.registry import network_spec

    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    task = task_from_checkpoint(path)
    name = task.hparams["network"]
    size = task.hparams.get("input_size") or network_spec(name).input_size
    channels = int(task.hparams.get("in_channels") or 3)
    return task.network.eval(), (channels, int(size), int(size))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liftpool export",
        description="Export a checkpoint's network (eval mode) to ONNX or a torch.export program (standard ops only).",
        allow_abbrev=False,
    )
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by liftpool fit")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or torch_export (.pt2)")
    parser.add_argument("--output", help="file to write (default: the checkpoint's path with .onnx / .pt2)")
    parser.add_argument("--opset", type=int, help="ONNX opset version (default: the exporter's)")
    parser.add_argument("--dynamic-batch", action="store_true", help="accept any batch size (else the example's)")
    parser.add_argument("--input-size", type=int, nargs="+", metavar="N", help="H W (or one side) of the example input")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size of the example input (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser


def check_output(output: Path, ckpt_path: Path, overwrite: bool) -> None:
    """Refuse to write over the checkpoint being read (always) or over an existing file (unless ``overwrite``)."""
    if output.exists() and output.resolve() == ckpt_path.resolve():
        raise ValueError(f"--output {output} is the checkpoint being exported; choose another file")
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; give a file name")
    existing = [path for path in (output, external_data_path(output)) if path.exists()]
    if existing and not overwrite:
        names = " and ".join(str(path) for path in existing)
        raise ValueError(f"{names} already exist{'s' if len(existing) == 1 else ''}; pass --overwrite to replace")


def check_input_size(network: nn.Module, example: Tensor) -> None:
    """Raise a one-line ValueError when ``network`` cannot run on ``example`` (e.g. too small for its pools)."""
    try:
        with torch.no_grad():
            network(example)
    except RuntimeError as error:
        lines = str(error).strip().splitlines()
        size = "x".join(map(str, example.shape[1:]))
        raise ValueError(f"the network does not run on a {size} input ({lines[0] if lines else type(error).__name__});"
                         " choose another --input-size") from error  # fmt: skip


def main(args: list[str]) -> int:
    """``liftpool export --ckpt_path CKPT --format onnx|torch_export [--output FILE] [--opset N] [--dynamic-batch]
    [--input-size H [W]] [--batch-size B]``: write the file and print where."""
    options = _parser().parse_args(args)
    if options.format == "onnx":
        _require_onnx()
    if options.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {options.batch_size}")
    if options.input_size and (len(options.input_size) > 2 or min(options.input_size) < 1):
        raise ValueError(f"--input-size takes one or two positive sizes (H [W]), got {options.input_size}")
    ckpt_path = Path(options.ckpt_path)
    output = Path(options.output) if options.output else ckpt_path.with_suffix(_SUFFIX[options.format])
    check_output(output, ckpt_path, options.overwrite)  # before the checkpoint is read: nothing is lost on a typo
    network, (channels, height, width) = checkpoint_network(ckpt_path)
    if options.input_size:
        height, width = options.input_size[0], options.input_size[-1]
    example = torch.randn(options.batch_size, channels, height, width)
    check_input_size(network, example)
    if options.overwrite:
        external_data_path(output).unlink(missing_ok=True)  # a stale sidecar of an earlier, larger export
    written = export_model(network, example, output, options.format, options.opset, options.dynamic_batch)
    batch = "any batch size" if options.dynamic_batch else f"batch size {options.batch_size}"
    print(f"wrote {written} ({options.format}, input {channels}x{height}x{width}, {batch})")
    if options.format == "onnx" and external_data_path(written).exists():
        print(f"its weights are in {external_data_path(written)}: keep the two files together")
    return 0
