"""Cross-check against RecBole 1.2.1's metric classes, run in the peer environment.

The evaluator ranks a random dataset; its top-K lists and hits go to
``benchmarks/peer/recbole_metrics.py`` under the peer Python (installed by
``benchmarks/peer/setup_recbole.sh``; the test skips without it). Every
list is full (each user has more candidates than K), as RecBole's always are.

Conventions (see ``docs/metrics.md``): RecBole's ``ShannonEntropy`` is the
exposure entropy divided by the number of distinct recommended items; the
script passes the catalogue size as ``data.num_items`` and every item in
``data.count_items`` (see its docstring). Everything else is the same formula.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from test_evaluator import random_dataset

from gnnrec.data.split import temporal_split
from gnnrec.evaluation import EmbeddingScorer, Evaluator
from gnnrec.evaluation.ranking import membership

PEER_PYTHON = Path(os.environ.get("GNNREC_PEER_PYTHON", REPO / ".peer-env" / "bin" / "python"))
SCRIPT = REPO / "benchmarks" / "peer" / "recbole_metrics.py"

pytestmark = pytest.mark.skipif(
    not PEER_PYTHON.exists(),
    reason="RecBole peer env absent (benchmarks/peer/setup_recbole.sh installs it)",
)

KS = [1, 5, 10]
TAIL_RATIO = 0.3

# gnnrec key -> RecBole key, per K
SAME = {
    "recall": "recall",
    "ndcg": "ndcg",
    "precision": "precision",
    "hit": "hit",
    "mrr": "mrr",
    "map": "map",
    "item_coverage": "itemcoverage",
    "item_gini": "giniindex",
    "avg_pop": "averagepopularity",
    "tail_pct": "tailpercentage",
}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    ds = random_dataset(5)
    split = temporal_split(ds, (0.6, 0.2, 0.2))
    g = torch.Generator().manual_seed(5)
    scorer = EmbeddingScorer(torch.randn(30, 6, generator=g), torch.randn(40, 6, generator=g))
    ev = Evaluator(split, ks=KS, tail_ratio=TAIL_RATIO)
    res = ev.evaluate(scorer, "test", keep_topk=True)
    assert (res.topk >= 0).all()  # full lists only
    users = torch.from_numpy(res.users)
    truth = ev._truth["test"]
    hits = membership(truth.keys, users, torch.from_numpy(res.topk), ds.num_items)
    folder = tmp_path_factory.mktemp("recbole")
    np.savez(
        folder / "lists.npz",
        items=res.topk,
        hits=hits.numpy(),
        num_relevant=truth.num_relevant[users].numpy(),
        item_count=ev.popularity.numpy().astype(np.int64),
        num_items=ds.num_items,
        ks=np.array(KS),
        tail_ratio=TAIL_RATIO,
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        [str(PEER_PYTHON), str(SCRIPT), str(folder / "lists.npz"), str(folder / "out.json")],
        check=True,
        timeout=300,
        env=env,
        capture_output=True,
    )
    recbole = json.loads((folder / "out.json").read_text())
    return res, recbole


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("name", sorted(SAME))
def test_same_formula_as_recbole(both, name, k):
    res, recbole = both
    assert res.metrics[f"test/{name}@{k}"] == pytest.approx(
        recbole[f"{SAME[name]}@{k}"], rel=1e-12, abs=1e-14
    )


@pytest.mark.parametrize("k", KS)
def test_shannon_entropy_differs_by_the_distinct_item_count(both, k):
    res, recbole = both
    distinct = len(np.unique(res.topk[:, :k]))
    ours = res.metrics[f"test/item_entropy@{k}"]
    assert ours / distinct == pytest.approx(recbole[f"shannonentropy@{k}"], rel=1e-12)
