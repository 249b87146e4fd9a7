#!/usr/bin/env bash
# Reproduces the README's side-signal table: each model that uses more than
# the interaction graph next to LightGCN on data that carries that signal,
# seed 2026, default configs, same training budget:
#   item text and time order  - ml-100k (titles + genres; timestamps):
#                               lightgcn, textgcn, seqgcn, sasrec
#   domains                   - ml-100k with Drama / other as pseudo-domains,
#                               users cold in Drama: lightgcn, crossdomain
#   behaviour types           - the synthetic view/cart/fav/buy log, buy held
#                               out: lightgcn, mblightgcn
# Usage: bash experiments/side_signals.sh [extra overrides, e.g. train.epochs=40]
# Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
root="multirun/side-signals-$(date +%Y%m%d-%H%M%S)"
train=(.venv/bin/gnnrec-train -m logger=none train.progress=false)
"${train[@]}" model=lightgcn,textgcn,seqgcn,sasrec "hydra.sweep.dir=$root/text-and-time" "$@"
"${train[@]}" model=lightgcn,crossdomain dataset=ml-100k-domains split=cross_domain \
    split.target=Drama "hydra.sweep.dir=$root/cross-domain" "$@"
"${train[@]}" model=lightgcn,mblightgcn dataset=synthetic-behavior target_behavior=buy \
    "hydra.sweep.dir=$root/behaviour" "$@"
for part in text-and-time cross-domain behaviour; do
    echo "#### $part"
    .venv/bin/python experiments/zoo_table.py "$root/$part"
    echo
done | tee "$root/table.md"
