#!/usr/bin/env bash
# Recipe: LightGCN depth ablation on ml-100k, 3 seeds per depth, then the
# report (mean ± std table with paired significance against 3 layers, figures)
# committed under experiments/depth_ablation/.
# Usage: bash experiments/depth_ablation.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
sweep="multirun/depth-ablation-$(date +%Y%m%d-%H%M%S)"
.venv/bin/gnnrec-train -m experiment=ml100k_depth model.num_layers=1,2,3 seed=0,1,2 \
    logger=none train.progress=false "hydra.sweep.dir=$sweep"
.venv/bin/gnnrec-report "$sweep" --out experiments/depth_ablation \
    --metrics recall ndcg cat_coverage --k 20 --baseline model.num_layers=3 --correction holm
