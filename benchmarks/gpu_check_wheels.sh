#!/usr/bin/env bash
# Wheels for benchmarks/gpu_check.sh on a GPU machine without network: downloads, into .whl in the repository root,
# the packages the check needs that the GPU machine lacks, at the versions installed here (the ones tested here),
# for its Python (3.12, x86-64 Linux, by default). Run it here, on a machine with the package index.
#
#   bash benchmarks/gpu_check_wheels.sh [PACKAGE ...]     # default: jsonargparse docstring_parser typeshed_client
#
# The default list suits a GPU machine that has torch, lightning, torchvision, triton, torchmetrics, pytest,
# pytest-timeout, scipy, matplotlib and PyYAML but not jsonargparse (the GPU machines this project is lent, as last
# listed). PYTHON_VERSION (default 3.12) and PYTHON (default python3, the environment whose versions are taken) can
# be set.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(jsonargparse docstring_parser typeshed_client)
pinned=$("$python" - "${packages[@]}" <<'PY'
import importlib.metadata, sys
try:
    print(" ".join(f"{name}=={importlib.metadata.version(name)}" for name in sys.argv[1:]))
except importlib.metadata.PackageNotFoundError as error:
    sys.exit(f"gpu_check_wheels: {error.name} is not installed here; install it or name another package")
PY
)
mkdir -p .whl
# shellcheck disable=SC2086  # one argument per pinned package
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYTHON_VERSION:-3.12}" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl $pinned
echo "gpu_check_wheels: $pinned in $PWD/.whl (keep .whl out of git: echo /.whl/ >> .git/info/exclude)"
