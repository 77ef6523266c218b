#!/usr/bin/env bash
# Multi-node DDP with torchrun (no SLURM): Lightning detects torchrun's TorchElasticEnvironment and takes the ranks
# and world size from it. Run the same command on every node, from the repository root (config paths are relative):
#   MASTER=node0.example.org NNODES=2 NPROC=8 configs/cluster/torchrun.sh        # on each of the 2 nodes
#   configs/cluster/torchrun.sh --trainer.max_epochs 1                           # 1 node, 8 GPUs; extra args: liftpool
# Variables (defaults after ':-'): NNODES nodes, NPROC processes (= GPUs) per node, MASTER host (reachable from every
# node) and MASTER_PORT of the c10d rendezvous, RDZV_ID (same on every node, new for each job), RECIPE, RUN_DIR.
# W&B, if a config adds it, reads WANDB_API_KEY from the environment: never write it here.
set -euo pipefail

NNODES="${NNODES:-1}"
NPROC="${NPROC:-8}"
MASTER="${MASTER:-localhost}"
MASTER_PORT="${MASTER_PORT:-29500}"
RDZV_ID="${RDZV_ID:-liftpool}"
RECIPE="${RECIPE:-configs/imagenet/resnet50_lift.yaml}"
RUN_DIR="${RUN_DIR:-runs/torchrun}"

# num_nodes and devices follow NNODES and NPROC, which Lightning checks against torchrun's world size.
exec torchrun \
    --nnodes="$NNODES" \
    --nproc-per-node="$NPROC" \
    --rdzv-backend=c10d \
    --rdzv-endpoint="$MASTER:$MASTER_PORT" \
    --rdzv-id="$RDZV_ID" \
    -m liftpool_lightning fit \
    --config "$RECIPE" \
    --config configs/trainer/multinode.yaml \
    --trainer.num_nodes "$NNODES" \
    --trainer.devices "$NPROC" \
    --trainer.default_root_dir "$RUN_DIR" \
    "$@"
