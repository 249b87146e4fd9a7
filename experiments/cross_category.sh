#!/usr/bin/env bash
# Reproduces the README's cross-category table: LightGCN (its final scores also
# re-ranked by MMR and by calibration at several lambda), DGCN, DGRec and the
# category-graph model on one dataset, seed 2026, default configs; then one
# Markdown table with the accuracy cost of each model's diversity next to
# MMR's cost at the same category coverage.
# Usage: bash experiments/cross_category.sh ml-100k         (bundled; default split)
#        bash experiments/cross_category.sh amazon-beauty   (../shared/data; DGRec's split)
#        MODELS=lightgcn,dgrec bash experiments/cross_category.sh ml-100k   (a subset)
# Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
dataset=${1:-ml-100k}
shift || true
models=${MODELS:-lightgcn,dgcn,dgrec,catgraph}
sweep="multirun/cross-category-${dataset}-$(date +%Y%m%d-%H%M%S)"
train=(.venv/bin/gnnrec-train "dataset=$dataset" logger=none train.progress=false "$@")
for model in ${models//,/ }; do
    extra=()
    case $model in
        # LightGCN's scores re-ranked: one trained model, an accuracy–diversity curve
        lightgcn) extra=("eval.rerank=[mmr,calibrated]" "eval.rerank_lambda=[0.1,0.2,0.3,0.5,0.7,0.9]") ;;
        # DGCN's category-boosted negatives are a sampler (usable by every model)
        dgcn) extra=(sampler=category_boosted) ;;
    esac
    "${train[@]}" "model=$model" "${extra[@]}" "hydra.run.dir=$sweep/$model"
done
.venv/bin/python experiments/cross_category_table.py "$sweep" | tee "$sweep/table.md"
