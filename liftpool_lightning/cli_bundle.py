"""``liftpool bundle``: write a ``liftpool fit`` checkpoint's bundle, and optionally upload it."""

from __future__ import annotations

import argparse
from pathlib import Path

from liftpool_lightning.hub.bundle import bundle_checkpoint
from liftpool_lightning.hub.extra import require_extra
from liftpool_lightning.hub.files import BUNDLE_FILES
from liftpool_lightning.hub.push import check_repo_id, push_to_hub


def run_bundle(args: list[str]) -> int:
    """``liftpool bundle --ckpt_path CKPT --output DIR [--config RUN.yaml] [--overwrite] [--push-to-hub REPO_ID]
    [--private]``: write the bundle (and upload it) and print where."""
    parser = argparse.ArgumentParser(
        prog="liftpool bundle",
        description="Turn a liftpool fit checkpoint into a shareable folder: model.safetensors, config.json, a model "
        "card (README.md) and the run's config; optionally upload it to the Hugging Face Hub.",
        allow_abbrev=False,
    )
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by liftpool fit")
    parser.add_argument("--output", required=True, help="the folder to write (absent or empty unless --overwrite)")
    parser.add_argument("--config", help="the run's config.yaml (default: found next to the checkpoint or one up)")
    parser.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="then upload to this Hub repo (user/name)")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    options = parser.parse_args(args)
    if options.private and not options.push_to_hub:
        parser.error("--private needs --push-to-hub REPO_ID")
    if options.push_to_hub:
        require_extra("huggingface_hub", "--push-to-hub")
        check_repo_id(options.push_to_hub, "--push-to-hub")
    folder = bundle_checkpoint(options.ckpt_path, options.output, training_config=options.config,
                               overwrite=options.overwrite, repo_id=options.push_to_hub)  # fmt: skip
    written = ", ".join(name for name in BUNDLE_FILES if (folder / name).is_file())
    print(f"wrote {folder} ({written})")
    if options.push_to_hub:
        url = push_to_hub(folder, options.push_to_hub, private=options.private or None,
                          commit_message=f"Upload {Path(options.ckpt_path).name} with liftpool bundle")  # fmt: skip
        print(f"uploaded to {options.push_to_hub}: {url}")
    return 0
