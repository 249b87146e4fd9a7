#!/usr/bin/env bash
# Install RecBole 1.2.1 as a *peer* (never a gnnrec dependency) in its own venv,
# with the pins from ../shared/peers/recbole.md that make it run on today's stack.
#   benchmarks/peer/setup_recbole.sh            # creates .peer-env in the repo root
#   PEER_ENV=/elsewhere benchmarks/peer/setup_recbole.sh
# Used by benchmarks/eval_speed.py and tests/test_eval_recbole.py (skipped without it).
set -euo pipefail
cd "$(dirname "$0")/../.."
PEER_ENV=${PEER_ENV:-.peer-env}
PYTHON=${PYTHON:-python3}
if [ ! -x "$PEER_ENV/bin/python" ]; then
    "$PYTHON" -m venv "$PEER_ENV"
fi
# numpy<2: ray uses np.bool8; setuptools<70: ray imports pkg_resources;
# pandas<2.3: pandas 3 needs numpy>=2; scipy<1.12: LightGCN uses dok_matrix._update.
# torch==2.12.1: torch 2.13 needs setuptools>=77, which conflicts with setuptools<70,
# so pip settles on 2.12.1 anyway; pinned here so every install is the same.
"$PEER_ENV/bin/python" -m pip install -q --disable-pip-version-check \
    torch==2.12.1 recbole==1.2.1 "numpy<2" "scipy<1.12" "pandas<2.3" "setuptools<70"
"$PEER_ENV/bin/python" -c "import recbole, torch; print('recbole', recbole.__version__, 'torch', torch.__version__)"
