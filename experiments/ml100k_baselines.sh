#!/usr/bin/env bash
# Reproduces the README's MovieLens-100K table: MostPop, BPR-MF, LightGCN and
# GAT on the default split (per-user temporal 80/10/10, ratings >= 4), seed 2026.
# Usage: bash experiments/ml100k_baselines.sh [extra Hydra overrides...]
set -euo pipefail
cd "$(dirname "$0")/.."
sweep="multirun/ml100k-baselines-$(date +%Y%m%d-%H%M%S)"
.venv/bin/gnnrec-train -m model=mostpop,mf,lightgcn,gat logger=none train.progress=false \
    "hydra.sweep.dir=$sweep" "$@"
.venv/bin/python experiments/summarize.py "$sweep"
