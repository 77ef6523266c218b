#!/usr/bin/env bash
# One GPU check, about 10 minutes on one GPU with a cold Triton cache: the `gpu` tests (the Triton kernels as compiled
# for the GPU against the float64 generic path, their self-check, device guard, int64 offsets, no host sync), the
# Triton kernels' report (self-check verdict per dtype, registers and spills of every compiled variant), a short
# `liftpool fit` with the GPU preset (LIFTPOOL_TRITON=1: the kernels, opt-in) and with the DDP preset on one device
# (the default PyTorch steps), both bf16-mixed, and the bf16 training-step benchmark (VGG13-BN CIFAR, ResNet18, SegNet
# vs their MaxPool models, LiftPool on the PyTorch steps and on the Triton kernels); a short table last.
#
#   bash benchmarks/gpu_check.sh [OUTPUT_DIR]        # default: $OUT if set, else ./gpu_check
#   bash benchmarks/gpu_check.sh --only gpu_tests,triton_kernels [OUTPUT_DIR]   # some stages (to split the time)
#   bash benchmarks/gpu_check.sh --rehearse [OUTPUT_DIR]
#   bash benchmarks/gpu_check.sh --help
#
# The Triton kernels are off by default (the PyTorch steps run on CUDA) until this check has passed on a real GPU;
# LIFTPOOL_TRITON=1 turns them on, each (device, dtype) self-checked on first use. `liftpool info` says which backend
# serves each device and dtype, and why. Triton compiles into OUTPUT_DIR/triton_cache (TRITON_CACHE_DIR), so the
# time limits allow a cold compile. Stages: gpu_tests (or layer_tests_cuda_standin), triton_kernels, fit_gpu_preset,
# fit_ddp_preset_one_device, benchmark_bf16.
#
# --rehearse, on a machine without a GPU: the same script, wheels and command lines on the CPU, to find what would
# break before GPU time is spent (run it with PYTHON set to an environment holding the GPU machine's versions): the
# layer tests on the CUDA stand-in (tests/conftest.py; the Triton kernels through Triton's interpreter) instead of the
# `gpu` tests, the kernels' report through the interpreter (no registers: it compiles nothing), the fits with
# --trainer.accelerator=cpu and a few batches, the benchmark on CPU with VGG13-BN only and without Triton.
# To fill .whl for the GPU machine: bash benchmarks/gpu_check_wheels.sh.
#
# Works on a bare GPU machine without network that has PyTorch, Lightning, torchvision and Triton: whatever else is
# missing (jsonargparse, torchmetrics, pytest, ...) is installed from wheels beside the repository, in
# $LIFTPOOL_WHEELS (default: .whl in the repository root, then ../wheels), into a private folder on PYTHONPATH. The
# package runs from this checkout (PYTHONPATH), nothing is installed system-wide. Each stage's output goes to
# OUTPUT_DIR/<stage>.log; a failing stage is reported in the table and the others still run.
# To fill .whl on a machine with the package index (Python 3.12 x86-64 target), per missing package:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl NAME==VERSION
set -uo pipefail
rehearse=0
out_arg=""
only=""
stages="gpu_tests layer_tests_cuda_standin triton_kernels fit_gpu_preset fit_ddp_preset_one_device benchmark_bf16"
expect_only=0
for argument in "$@"; do
    if [ "$expect_only" = 1 ]; then
        only=",$argument,"
        expect_only=0
        for name in ${argument//,/ }; do
            if [[ " $stages " != *" $name "* ]]; then
                echo "gpu_check: unknown stage $name in --only (stages: ${stages// /, })" >&2; exit 2
            fi
        done
        continue
    fi
    case "$argument" in
        --rehearse) rehearse=1 ;;
        --only) expect_only=1 ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "gpu_check: unknown option $argument (options: --rehearse, --only STAGES, --help)" >&2; exit 2 ;;
        *) if [ -n "$out_arg" ]; then echo "gpu_check: one OUTPUT_DIR only, got $out_arg and $argument" >&2; exit 2; fi
           out_arg="$argument" ;;
    esac
done
if [ "$expect_only" = 1 ]; then echo "gpu_check: --only needs a comma-separated list of stages" >&2; exit 2; fi
cd "$(dirname "$0")/.."
repo="$PWD"
out="${out_arg:-${OUT:-$repo/gpu_check}}"
mkdir -p "$out"
python="${PYTHON:-python3}"
start=$SECONDS

# ------------------------------------------------------------------------------------------- missing packages
needed="jsonargparse torchmetrics pytest pytest_timeout yaml docstring_parser typeshed_client scipy matplotlib"
missing=$("$python" - "$needed" <<'EOF'
import importlib.util, sys
print(" ".join(name for name in sys.argv[1].split() if importlib.util.find_spec(name) is None))
EOF
)
if [ -n "$missing" ]; then
    wheels="${LIFTPOOL_WHEELS:-}"
    for candidate in "$repo/.whl" "$repo/../wheels"; do
        if [ -z "$wheels" ] && compgen -G "$candidate/*.whl" > /dev/null; then wheels="$candidate"; fi
    done
    if [ -z "$wheels" ]; then
        echo "gpu_check: missing $missing and no wheels in \$LIFTPOOL_WHEELS, $repo/.whl or $repo/../wheels" >&2
        exit 1
    fi
    echo "gpu_check: installing the wheels in $wheels (missing: $missing)"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/liftpool_site \
        "$wheels"/*.whl || exit 1
    export PYTHONPATH="/tmp/liftpool_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export WANDB_MODE=offline PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR="$out/triton_cache"  # a cold compile here, kept with the logs

"$python" - <<'EOF' | tee "$out/environment.txt"
import torch, lightning, torchvision
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, lightning {lightning.__version__}, "
      f"torchvision {torchvision.__version__}")
print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NO CUDA DEVICE")
try:
    import triton
    print("triton", triton.__version__)
except ImportError:
    print("triton: not installed")
EOF

declare -a names results
stage() {  # stage NAME TIMEOUT_S COMMAND...: run, log, record the exit status and seconds
    local name=$1 limit=$2
    shift 2
    if [ -n "$only" ] && [[ "$only" != *",$name,"* ]]; then return; fi
    local t0=$SECONDS
    echo "== $name: $*"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local status=$?
    tail -n 5 "$out/$name.log"
    names+=("$name")
    results+=("exit $status, $((SECONDS - t0)) s")
}

# ------------------------------------------------------------------------------------------- the stages
fit_args=(--config configs/quickstart.yaml --trainer.max_epochs=1 --trainer.limit_train_batches=30
          --trainer.limit_val_batches=5 --trainer.enable_progress_bar=false --data.num_workers=2)
on_cpu=()  # after a preset: its accelerator replaced by the CPU when rehearsing
bench_args=(--device cuda --workloads vgg13 resnet18 segnet --rounds 2 --repeats 20 --triton)
report=("$python" benchmarks/triton_kernels_report.py --device cuda:0)
if [ "$rehearse" = 1 ]; then
    stage layer_tests_cuda_standin 900 "$python" -m pytest -q -p no:cacheprovider --cuda-standin tests/nn \
        tests/cli/test_precision_fit.py
    on_cpu=(--trainer.accelerator=cpu --trainer.sync_batchnorm=false --trainer.limit_train_batches=3
            --trainer.limit_val_batches=2)  # SyncBatchNorm needs GPU modules
    bench_args=(--device cpu --workloads vgg13 --rounds 1 --repeats 2 --warmup 1)
    report=(env TRITON_INTERPRET=1 "$python" benchmarks/triton_kernels_report.py --device cpu)  # CPU tensors
else
    stage gpu_tests 420 env LIFTPOOL_TRITON=1 "$python" -m pytest -m gpu -q -p no:cacheprovider tests/nn/test_cuda.py
fi
stage triton_kernels 300 "${report[@]}" --json "$out/triton_kernels.json"
stage fit_gpu_preset 150 env LIFTPOOL_TRITON=1 "$python" -m liftpool_lightning fit "${fit_args[@]}" \
    --config configs/trainer/gpu.yaml \
    ${on_cpu[@]+"${on_cpu[@]}"} --trainer.default_root_dir="$out/runs/gpu" --trainer.logger.init_args.save_dir="$out/runs/gpu"
stage fit_ddp_preset_one_device 150 "$python" -m liftpool_lightning fit "${fit_args[@]}" \
    --config configs/trainer/ddp.yaml --trainer.devices=1 ${on_cpu[@]+"${on_cpu[@]}"} \
    --trainer.default_root_dir="$out/runs/ddp" --trainer.logger.init_args.save_dir="$out/runs/ddp"
stage benchmark_bf16 360 "$python" benchmarks/bench_liftpool.py "${bench_args[@]}" --bf16 --channels-last \
    --json "$out/benchmark_bf16.json"

# ------------------------------------------------------------------------------------------- the table
echo
echo "| stage | result |"
echo "|---|---|"
for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} |"; done
if [ -f "$out/benchmark_bf16.json" ]; then
    "$python" - "$out/benchmark_bf16.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))
print(f"\nbf16 training step on {results['device']} (torch {results['torch']}); targets: VGG13/ResNet18 <= 1.10x, "
      "tensors kept for backward <= 1.3x")
print("| workload | baseline ms | LiftPool ms | time | peak memory | kept for backward | Triton ms | time | kept |")
print("|---|---|---|---|---|---|---|---|---|")
for workload in ("vgg13", "resnet18", "segnet"):
    if workload in results:
        row = results[workload]
        baseline, lift = (row["ms"][name] for name in list(row["ms"])[:2])
        triton = row["ms"].get("lift (triton)")
        cells = ("-", "-", "-") if triton is None else (
            f"{triton:.1f}", f"{row['triton_time_ratio']:.2f}x", f"{row['triton_saved_activation_ratio']:.2f}x")
        print(f"| {workload} | {baseline:.1f} | {lift:.1f} | {row['time_ratio']:.2f}x | "
              f"{row['peak_memory_ratio']:.2f}x | {row['saved_activation_ratio']:.2f}x | " + " | ".join(cells) + " |")
EOF
fi
echo "gpu_check: $((SECONDS - start)) s in all; logs in $out"
