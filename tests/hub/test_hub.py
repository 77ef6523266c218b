"""Load and share by name (issue 17, section 2): ``liftpool bundle`` turns a ``liftpool fit`` checkpoint into
weights + config + model card, ``from_pretrained`` rebuilds the exact network from a folder (or a Hub repo, here
through a local Hub cache: nothing talks to the network), ``push_to_hub`` uploads the bundle's files (the upload is
intercepted), and ``torch.hub.load`` builds every registered network through ``hubconf.py``."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from liftpool_lightning.checkpointing.build import task_from_checkpoint
from liftpool_lightning.cli import main
from liftpool_lightning.hub import (
    BUNDLE_FILES,
    EXTRA_HINT,
    create_model,
    from_pretrained,
    load_config,
    push_to_hub,
    save_pretrained,
)
from liftpool_lightning.models.registry import NETWORKS, create_network
from liftpool_lightning.nn import LiftDownPoolNd
from liftpool_lightning.surgery.factory import full_pool_options
from liftpool_lightning.tasks import ClassificationTask
from tests.cli.conftest import QUICKSTART, tiny_args

huggingface_hub = pytest.importorskip("huggingface_hub")  # the [hub] extra, in dev
safetensors = pytest.importorskip("safetensors")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny quickstart run through ``liftpool fit``, then ``liftpool bundle`` of its last checkpoint:
    (checkpoint, bundle folder)."""
    root = tmp_path_factory.mktemp("fit")
    assert main(["fit", "--config", str(QUICKSTART), *tiny_args(root), "--trainer.max_epochs=1"]) in (0, None)
    checkpoint = root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    folder = root / "bundle"
    assert main(["bundle", "--ckpt_path", str(checkpoint), "--output", str(folder)]) == 0
    return checkpoint, folder


def _input(size: int = 32, batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(7))


def test_bundle_rebuilds_the_checkpoint_network_exactly(run: tuple[Path, Path]) -> None:
    checkpoint, folder = run
    assert sorted(path.name for path in folder.iterdir()) == sorted(BUNDLE_FILES)
    umask = os.umask(0)
    os.umask(umask)
    assert {path.name: path.stat().st_mode & 0o777 for path in folder.iterdir()} == dict.fromkeys(
        BUNDLE_FILES, 0o666 & ~umask
    )  # the weights too, as readable as the card (safetensors writes owner-only)
    expected_network = task_from_checkpoint(checkpoint).network.eval()
    model = from_pretrained(folder)
    assert not model.training
    assert sum(isinstance(m, LiftDownPoolNd) for m in model.modules()) == 3
    x = _input()
    with torch.no_grad():
        assert torch.equal(model(x), expected_network(x))
    for name, tensor in expected_network.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_config_json_holds_what_rebuilds_the_network(run: tuple[Path, Path]) -> None:
    _, folder = run
    config = json.loads((folder / "config.json").read_text())
    assert config == {
        "network": "small_vgg",
        "task": "classification",
        "num_classes": 8,
        "pool": "lift",
        "pool_options": full_pool_options("lift", None),
        "up_pool": None,
        "strided_convs": False,
        "input_size": 32,
        "network_options": None,
        "library_name": "liftpool-lightning",
        "library_version": config["library_version"],
    }
    from liftpool_lightning import __version__

    assert config["library_version"] == __version__
    assert load_config(folder) == config


def test_model_card_names_network_pool_data_metrics_and_command(run: tuple[Path, Path]) -> None:
    checkpoint, folder = run
    card = (folder / "README.md").read_text()
    _, front, body = card.split("---\n", 2)
    metadata = yaml.safe_load(front)
    assert metadata["library_name"] == "liftpool-lightning"
    assert metadata["pipeline_tag"] == "image-classification"
    assert "liftpool" in metadata["tags"]
    assert "# small_vgg with lift pooling" in body
    assert "| pool | `lift` |" in body and "| classes | 8 |" in body
    assert "LiftDownPool / LiftUpPool layers | 3 / 0" in body
    assert "`liftpool_lightning.data.SyntheticShapesDataModule`" in body and '"num_train": 48' in body
    assert "liftpool fit --config training_config.yaml" in body
    assert f'from_pretrained("{folder}")' in body
    # the metric logged at the checkpoint's epoch, and the ModelCheckpoint's best score
    rows = (checkpoint.parents[1] / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    column = header.index("val/top1_error")
    logged = [row.split(",")[column] for row in rows[1:] if row.split(",")[column]]
    assert len(logged) == 1
    assert f"| val/top1_error | {float(logged[0]):.4g} |" in body
    assert f"best val/top1_error (min) of the run when the checkpoint was written: {float(logged[0]):.4g}" in body
    # the training config is the run's config.yaml, as liftpool fit saved it
    saved = (checkpoint.parents[1] / "config.yaml").read_text()
    assert (folder / "training_config.yaml").read_text() == saved


def test_weights_load_with_safetensors_alone(run: tuple[Path, Path]) -> None:
    checkpoint, folder = run
    from safetensors.numpy import load_file  # no torch needed to read the weights

    arrays = load_file(str(folder / "model.safetensors"))
    state = task_from_checkpoint(checkpoint).network.state_dict()
    assert set(arrays) == set(state)
    for name, tensor in state.items():
        assert (arrays[name] == tensor.numpy()).all(), name
    with safetensors.safe_open(str(folder / "model.safetensors"), framework="np") as handle:
        assert handle.metadata()["network"] == "small_vgg"


def test_bundle_errors_are_one_line(run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint, folder = run

    def error(*args: str) -> str:
        assert main(["bundle", *args]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, lines
        return lines[0]

    assert error("--ckpt_path", str(checkpoint), "--output", str(folder)) == (
        f"liftpool bundle: error: output {folder} is not empty; give another folder, or --overwrite to write into it"
    )
    missing = tmp_path / "missing.ckpt"
    assert error("--ckpt_path", str(missing), "--output", str(tmp_path / "a")) == (
        f"liftpool bundle: error: checkpoint {missing} does not exist"
    )
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    assert error("--ckpt_path", str(corrupt), "--output", str(tmp_path / "b")).startswith(
        f"liftpool bundle: error: {corrupt} is not a readable checkpoint"
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert error("--ckpt_path", str(checkpoint), "--output", str(tmp_path / "c"), "--push-to-hub", "no-user") == (
        "liftpool bundle: error: --push-to-hub must look like user/name, got 'no-user'"
    )
    # --overwrite writes into the folder (and keeps files that are not the bundle's)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "notes.txt").write_text("mine")
    (copy / "config.json").write_text("{}")
    assert main(["bundle", "--ckpt_path", str(checkpoint), "--output", str(copy), "--overwrite"]) == 0
    assert f"wrote {copy} (model.safetensors, config.json, README.md, training_config.yaml)" in capsys.readouterr().out
    assert json.loads((copy / "config.json").read_text())["network"] == "small_vgg"
    assert (copy / "notes.txt").read_text() == "mine"


def test_console_command_error_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.ckpt"
    result = subprocess.run(
        [sys.executable, "-m", "liftpool_lightning", "bundle", "--ckpt_path", str(missing), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"liftpool bundle: error: checkpoint {missing} does not exist"


def test_from_pretrained_with_a_hub_repo_id_reads_the_hub_cache(run: tuple[Path, Path], tmp_path: Path) -> None:
    """A repo id goes through huggingface_hub's download (here answered from a cache laid out as the Hub's, with
    local_files_only: no network)."""
    _, folder = run
    commit = "0" * 40
    repo = tmp_path / "cache" / "models--someone--liftpool-small-vgg"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    model = from_pretrained("someone/liftpool-small-vgg", cache_dir=tmp_path / "cache", local_files_only=True)
    x = _input()
    with torch.no_grad():
        assert torch.equal(model(x), from_pretrained(folder)(x))
    assert load_config("someone/liftpool-small-vgg", cache_dir=tmp_path / "cache", local_files_only=True)["pool"] == (
        "lift"
    )
    with pytest.raises(OSError, match=r"someone/absent is not a folder here, and config.json could not be downloaded"):
        from_pretrained("someone/absent", cache_dir=tmp_path / "cache", local_files_only=True)


def test_save_pretrained_round_trips_a_task_and_a_created_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    task = ClassificationTask("small_vgg", num_classes=5, pool="lift", pool_options={"kernel_size": 3}).eval()
    folder = save_pretrained(task, tmp_path / "task")
    assert "Not recorded: this bundle was saved from Python" in (folder / "README.md").read_text()
    saved_options = json.loads((folder / "config.json").read_text())["pool_options"]
    assert saved_options == {**full_pool_options("lift", None), "kernel_size": 3}
    assert saved_options["bands"] == "low" and saved_options["activation"] is None  # this version's defaults, kept
    x = _input()
    with torch.no_grad():
        assert torch.equal(from_pretrained(folder)(x), task.network(x))

    model = create_model("resnet18", num_classes=4, pool="lift", input_size=64).eval()
    folder = save_pretrained(model, tmp_path / "resnet")
    loaded = from_pretrained(folder)
    with torch.no_grad():
        assert torch.equal(loaded(_input(64, 2)), model(_input(64, 2)))
    assert loaded.liftpool_config == model.liftpool_config  # saved again without any config given
    assert (tmp_path / "again").exists() is False
    save_pretrained(loaded, tmp_path / "again")
    assert (tmp_path / "again" / "config.json").read_text() == (folder / "config.json").read_text()


def test_save_pretrained_needs_a_config_for_a_plain_network(tmp_path: Path) -> None:
    network = create_network("small_vgg", num_classes=3, pool="lift")
    with pytest.raises(ValueError, match="cannot tell how to rebuild this network: give config="):
        save_pretrained(network, tmp_path / "a")
    folder = save_pretrained(network, tmp_path / "b", config={"network": "small_vgg", "num_classes": 3, "pool": "lift"})
    assert from_pretrained(folder).state_dict().keys() == network.state_dict().keys()
    with pytest.raises(ValueError, match="config: unknown keys pol"):
        save_pretrained(network, tmp_path / "c", config={"network": "small_vgg", "num_classes": 3, "pol": "lift"})


def test_weight_mismatch_is_a_clear_error_and_strict_false_loads_what_fits(
    run: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, folder = run
    with pytest.raises(
        ValueError,
        match=r"2 of another shape: classifier\.weight: file \(8, 128\) vs network \(5, 128\), classifier\.bias",
    ):
        from_pretrained(folder, num_classes=5)
    with pytest.raises(ValueError, match=r"do not fit the network .* (missing|not in the network)"):
        from_pretrained(folder, pool="max")  # max pooling has no P/U weights: the file's are unexpected
    with caplog.at_level(logging.WARNING, logger="liftpool_lightning.hub"):
        model = from_pretrained(folder, num_classes=5, strict=False)  # fine-tuning on 5 classes: a new classifier
    assert "of another shape" in caplog.text
    reference = from_pretrained(folder)
    for name, tensor in model.state_dict().items():
        if tensor.shape == reference.state_dict()[name].shape:
            assert torch.equal(tensor, reference.state_dict()[name]), name
    with pytest.raises(TypeError, match="unknown options num_class; config entries: network, num_classes"):
        from_pretrained(folder, num_class=5)


def test_bad_folders(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, folder = run
    with pytest.raises(FileNotFoundError, match=r"has no config\.json: not a bundle"):
        from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="is a file; give the bundle's folder"):
        from_pretrained(folder / "config.json")
    with pytest.raises(FileNotFoundError, match="is neither a folder nor a Hugging Face Hub repo id"):
        from_pretrained(tmp_path / "no" / "such" / "folder")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        from_pretrained(broken)
    (broken / "config.json").write_text(json.dumps({"network": "bert", "library_name": "transformers"}))
    with pytest.raises(ValueError, match="belongs to 'transformers', not liftpool-lightning"):
        from_pretrained(broken)
    shutil.copy(folder / "config.json", broken / "config.json")
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors file"):
        from_pretrained(broken)


def test_missing_extra_names_it(run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, folder = run
    assert EXTRA_HINT == "pip install 'liftpool-lightning[hub]'"
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # what an environment without it gives: ImportError
    with pytest.raises(ImportError, match=r"push_to_hub needs the 'huggingface_hub' package: pip install 'liftpool-l"):
        push_to_hub(folder, "someone/model")
    with pytest.raises(ImportError, match=r"needs the 'huggingface_hub' package: pip install 'liftpool-lightning\[hub"):
        from_pretrained("someone/model")
    from_pretrained(folder)  # a local folder needs safetensors only
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match=r"needs the 'safetensors.torch' package: pip install 'liftpool-lightning\["):
        from_pretrained(folder)
    with pytest.raises(ImportError, match=r"needs the 'safetensors.torch' package"):
        save_pretrained(create_model("small_vgg", 3, pool="lift"), tmp_path / "x")


class _Uploads:
    """Records HfApi.create_repo / upload_folder calls, with the folder's files at the time of the upload."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.repos: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        recorder = self

        def create_repo(self: Any, repo_id: str, **kwargs: Any) -> str:
            recorder.repos.append({"repo_id": repo_id, **kwargs})
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self: Any, **kwargs: Any) -> Any:
            folder = Path(kwargs["folder_path"])
            allowed = kwargs.get("allow_patterns") or []
            files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name in allowed}
            recorder.uploads.append({**kwargs, "files": files})
            return huggingface_hub.CommitInfo(
                commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/123",
                commit_message=kwargs.get("commit_message") or "",
                commit_description="",
                oid="123",
            )

        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)


def test_push_to_hub_uploads_the_bundle_files(run: tuple[Path, Path], tmp_path: Path, monkeypatch) -> None:
    _, bundle = run
    folder = tmp_path / "bundle"
    shutil.copytree(bundle, folder)
    (folder / "optimizer.ckpt").write_bytes(b"private")  # not part of the bundle: never sent
    calls = _Uploads(monkeypatch)
    url = push_to_hub(folder, "someone/liftpool-small-vgg", private=True)
    assert url == "https://huggingface.co/someone/liftpool-small-vgg/commit/123"
    assert calls.repos == [{"repo_id": "someone/liftpool-small-vgg", "private": True, "exist_ok": True,
                            "repo_type": "model"}]  # fmt: skip
    (upload,) = calls.uploads
    assert upload["repo_id"] == "someone/liftpool-small-vgg" and Path(upload["folder_path"]) == folder
    assert sorted(upload["allow_patterns"]) == sorted(BUNDLE_FILES)
    assert sorted(upload["files"]) == sorted(BUNDLE_FILES)
    assert upload["files"]["model.safetensors"] == (bundle / "model.safetensors").read_bytes()
    card = upload["files"]["README.md"].decode()
    assert 'from_pretrained("someone/liftpool-small-vgg")' in card  # the card loads from where it is uploaded

    with pytest.raises(FileNotFoundError, match=r"has no config\.json: write it with liftpool bundle"):
        push_to_hub(tmp_path, "someone/x")
    with pytest.raises(ValueError, match="repo_id must look like user/name"):
        push_to_hub(folder, "not a repo")
    assert len(calls.uploads) == 1


def test_push_to_hub_saves_a_model_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _Uploads(monkeypatch)
    model = create_model("small_vgg", num_classes=3, pool="lift").eval()
    push_to_hub(model, "someone/tiny", commit_message="first")
    (upload,) = calls.uploads
    assert sorted(upload["files"]) == ["README.md", "config.json", "model.safetensors"]
    assert upload["commit_message"] == "first" and calls.repos[0]["private"] is None
    assert json.loads(upload["files"]["config.json"])["num_classes"] == 3
    assert not Path(upload["folder_path"]).exists()  # a temporary folder, removed after the upload
    local = tmp_path / "downloaded"
    local.mkdir()
    for name, content in upload["files"].items():
        (local / name).write_bytes(content)
    with torch.no_grad():
        assert torch.equal(from_pretrained(local)(_input()), model(_input()))


def test_bundle_command_pushes(run: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    checkpoint, _ = run
    calls = _Uploads(monkeypatch)
    folder = tmp_path / "out"
    args = [
        "bundle",
        "--ckpt_path",
        str(checkpoint),
        "--output",
        str(folder),
        "--push-to-hub",
        "someone/qs",
        "--private",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "uploaded to someone/qs: https://huggingface.co/someone/qs/commit/123" in out
    assert calls.repos[0]["private"] is True
    (upload,) = calls.uploads
    assert Path(upload["folder_path"]) == folder and sorted(upload["files"]) == sorted(BUNDLE_FILES)
    assert upload["commit_message"] == "Upload last.ckpt with liftpool bundle"
    assert 'from_pretrained("someone/qs")' in upload["files"]["README.md"].decode()


def test_bundle_private_needs_push(run: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, _ = run
    with pytest.raises(SystemExit) as exit_info:
        main(["bundle", "--ckpt_path", str(checkpoint), "--output", str(tmp_path / "o"), "--private"])
    assert exit_info.value.code == 2


def test_hubconf_lists_every_registered_network() -> None:
    """What ``torch.hub.list`` answers for a GitHub copy of the repo (it takes GitHub repos only): the public
    callables of hubconf.py."""
    spec = importlib.util.spec_from_file_location("hubconf_under_test", ROOT / "hubconf.py")
    assert spec is not None and spec.loader is not None
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    entry_points = {name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")}
    assert entry_points == {*NETWORKS, "from_pretrained"}
    assert hubconf.dependencies == ["torch", "torchvision"]
    for name in NETWORKS:
        assert getattr(hubconf, name).__doc__.startswith(f"{name} (")  # what torch.hub.help shows


def test_torch_hub_load_builds_the_network_with_liftpool(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.hub.load(str(ROOT), "vgg13_bn_cifar", source="local", pool="lift", num_classes=10).eval()
    assert sum(isinstance(m, LiftDownPoolNd) for m in model.modules()) == 5
    with torch.no_grad():
        assert model(_input(32, 2)).shape == (2, 10)
    assert model.liftpool_config["network"] == "vgg13_bn_cifar" and model.liftpool_config["pool"] == "lift"
    # a hub model saves without any config, and loads back through torch.hub's from_pretrained entry point
    save_pretrained(model, tmp_path / "vgg")
    loaded = torch.hub.load(str(ROOT), "from_pretrained", str(tmp_path / "vgg"), source="local")
    with torch.no_grad():
        assert torch.equal(loaded(_input(32, 2)), model(_input(32, 2)))
    small = torch.hub.load(str(ROOT), "small_vgg", source="local", pool="max", pool_options=None)
    assert small.liftpool_config["num_classes"] == 8 and small.liftpool_config["pool"] == "max"
    with pytest.raises(ValueError, match="small_vgg has no pretrained weights"):
        torch.hub.load(str(ROOT), "small_vgg", source="local", pretrained=True)
    with pytest.raises(ValueError, match=r"give pretrained=True or weights=\.\.\., not both"):
        torch.hub.load(str(ROOT), "resnet18", source="local", pretrained=True, weights="DEFAULT")
