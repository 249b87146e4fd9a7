"""The README's cross-category table from one folder of runs.

Usage: python experiments/cross_category_table.py multirun/cross-category-ml-100k-...

One row per model (LightGCN first), then one row per re-ranking setting of
LightGCN's scores (``rerank/<method>@<lambda>/test/...`` keys of its
results.json). For every model and setting: the change of test Recall@20 and
category coverage@20 against LightGCN, and MMR's Recall@20 change at the
same coverage, interpolated linearly along LightGCN's MMR curve (lambda = 0
is LightGCN itself). A diversity model beats MMR when it gains coverage and
loses less recall than MMR does for that coverage.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

K = 20
METRICS = (
    ("recall", "Recall@20"),
    ("ndcg", "NDCG@20"),
    ("cc_recall", "cc_recall@20"),
    ("cat_coverage", "cat_coverage@20"),
    ("ild", "ILD@20"),
)
ORDER = ("lightgcn", "dgcn", "dgrec", "catgraph")
BASE = "lightgcn"


def load(root: Path) -> dict[str, dict]:
    runs = {}
    for path in sorted(root.rglob("results.json")):
        result = json.loads(path.read_text())
        runs[result["model"]] = result
    return runs


def rerank_rows(base: dict) -> dict[str, dict[str, float]]:
    """``{"mmr@0.5": {"recall": ..., ...}, ...}`` from LightGCN's re-ranked test keys."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in base.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == "rerank" and parts[2] == "test":
            name, _, k = parts[3].partition("@")
            if k == str(K):
                rows.setdefault(parts[1], {})[name] = value
    return dict(
        sorted(rows.items(), key=lambda kv: (kv[0].split("@")[0], float(kv[0].split("@")[1])))
    )


def test_row(result: dict) -> dict[str, float]:
    return {name: result.get(f"test/{name}@{K}", math.nan) for name, _ in METRICS}


def recall_at_coverage(curve: list[tuple[float, float]], coverage: float) -> float | None:
    """Recall on the piecewise-linear (coverage, recall) curve at ``coverage``
    (None outside the curve's coverage range)."""
    points = sorted(curve)
    for (c0, r0), (c1, r1) in itertools.pairwise(points):
        if c0 <= coverage <= c1:
            return r0 if c1 == c0 else r0 + (r1 - r0) * (coverage - c0) / (c1 - c0)
    return None


def _cell(metric: str, value: float) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{value:.2f}" if metric == "cat_coverage" else f"{value:.4f}"


def table(runs: dict[str, dict]) -> str:
    if BASE not in runs:
        raise SystemExit(f"no {BASE} run among {sorted(runs)}")
    base = test_row(runs[BASE])
    reranked = rerank_rows(runs[BASE])
    rows = {m: test_row(runs[m]) for m in [*ORDER, *sorted(set(runs) - set(ORDER))] if m in runs}
    rows.update({f"{BASE} + {name}": row for name, row in reranked.items()})
    mmr = [(base["cat_coverage"], base["recall"])] + [
        (row["cat_coverage"], row["recall"])
        for name, row in reranked.items()
        if name.startswith("mmr@")
    ]
    header = [
        "model",
        *(t for _, t in METRICS),
        "Δ Recall@20",
        "Δ coverage",
        "MMR Δ Recall@20 at that coverage",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, row in rows.items():
        cells = [_cell(m, row.get(m, math.nan)) for m, _ in METRICS]
        d_recall, d_cov = row["recall"] - base["recall"], row["cat_coverage"] - base["cat_coverage"]
        if name == BASE:
            cells += ["–", "–", "–"]
        else:
            at = recall_at_coverage(mmr, row["cat_coverage"]) if mmr else None
            if name.startswith(f"{BASE} + mmr"):
                versus = "(is the curve)"
            elif d_cov <= 0:
                versus = "no coverage gain"
            elif at is None:
                versus = "beyond MMR's range"
            else:
                d_mmr = at - base["recall"]
                versus = f"{d_mmr:+.4f} ({'model better' if d_recall > d_mmr else 'MMR better'})"
            cells += [f"{d_recall:+.4f}", f"{d_cov:+.2f}", versus]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding one run directory per model")
    print(table(load(parser.parse_args().root)))


if __name__ == "__main__":
    main()
