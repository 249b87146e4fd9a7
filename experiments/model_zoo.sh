#!/usr/bin/env bash
# Reproduces the README's model-zoo tables: every model in conf/model with its
# default config on one dataset, seed 2026, then one Markdown table.
# Usage: bash experiments/model_zoo.sh ml-100k         (bundled; default split)
#        bash experiments/model_zoo.sh amazon-beauty   (../shared/data; DGRec's split)
#        bash experiments/model_zoo.sh gowalla-shared train.epochs=20   (extra overrides)
#        MODELS=lightgcn,simgcl bash experiments/model_zoo.sh ml-100k  (a subset)
# Run from the repository root (the shared datasets are found at ../shared/data
# or $GNNREC_SHARED_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
dataset=${1:-ml-100k}
shift || true
models=${MODELS:-$(ls conf/model/*.yaml | xargs -n1 basename | sed "s/\.yaml$//" | paste -sd, -)}
sweep="multirun/zoo-${dataset}-$(date +%Y%m%d-%H%M%S)"
.venv/bin/gnnrec-train -m "model=$models" "dataset=$dataset" logger=none train.progress=false \
    "hydra.sweep.dir=$sweep" "$@"
.venv/bin/python experiments/zoo_table.py "$sweep" | tee "$sweep/table.md"
