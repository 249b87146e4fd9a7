"""The README's model-zoo table from one or more sweep folders.

Usage: python experiments/zoo_table.py multirun/zoo-ml-100k-... [more sweep folders]

One row per model in zoo order, the best value of each metric column in
bold. A later folder's run of a model replaces an earlier one (e.g. a rerun
of the self-supervised models after a default changed).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

ORDER = (
    "mostpop", "itemknn", "gfcf", "mf", "lightgcn", "ngcf", "gcn", "sage",
    "gat", "transformer", "rgcn", "hgt", "sgl", "simgcl", "xsimgcl",
    "dgcn", "dgrec", "catgraph", "mblightgcn", "textgcn", "seqgcn", "sasrec", "crossdomain",
)  # fmt: skip
COLUMNS = (
    ("test/recall@20", "test Recall@20"),
    ("test/ndcg@20", "test NDCG@20"),
    ("test/cc_recall@20", "test cc_recall@20"),
    ("test/cat_coverage@20", "test cat_coverage@20"),
    ("valid/recall@20", "valid Recall@20"),
)


def load(roots: list[Path]) -> dict[str, dict]:
    runs: dict[str, dict] = {}
    for root in roots:
        for path in sorted(root.rglob("results.json")):
            result = json.loads(path.read_text())
            runs[result["model"]] = result
    return runs


def _number(value: object) -> float | None:
    """A finite metric value, or None (missing, or NaN written as null)."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def table(runs: dict[str, dict]) -> str:
    best = {
        key: max((v for r in runs.values() if (v := _number(r.get(key))) is not None), default=None)
        for key, _ in COLUMNS
    }
    header = ["model", *(title for _, title in COLUMNS), "best epoch", "train time"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for model in [m for m in ORDER if m in runs] + sorted(set(runs) - set(ORDER)):
        r = runs[model]
        cells = []
        for key, _ in COLUMNS:
            value = _number(r.get(key))
            if value is None:  # e.g. category metrics without categories, no validation part
                cells.append("–")
                continue
            text = f"{value:.2f}" if "coverage" in key else f"{value:.4f}"
            cells.append(f"**{text}**" if value == best[key] else text)
        trained = r["train_time_s"] > 0.05
        epoch = str(r["best_epoch"]) if trained else "–"
        time = f"{r['train_time_s']:.1f} s" if trained else f"{r['wall_time_s']:.1f} s (whole run)"
        lines.append(f"| {model} | " + " | ".join([*cells, epoch, time]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", type=Path, nargs="+", help="sweep folders")
    print(table(load(parser.parse_args().roots)))


if __name__ == "__main__":
    main()
