"""Summarise the runs of a sweep (or any folder of runs) as a Markdown table.

Usage: python experiments/summarize.py multirun/2026-11-23/17-20-48 [--metrics test/recall@20 ...]
Reads every ``results.json`` below the folder; runs without one (failed or
unfinished) are listed as such.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

DEFAULT_METRICS = [
    "test/recall@20",
    "test/ndcg@20",
    "test/cc_recall@20",
    "test/cat_coverage@20",
    "test/ild@20",
    "test/item_coverage@20",
]


def _natural(path: Path) -> list:
    """Sort key: job 2 before job 10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def summarize(root: Path, metrics: list[str]) -> str:
    rows = [
        "| run | model | " + " | ".join(metrics) + " | best epoch | train s | wall s |",
        "|---" * (len(metrics) + 5) + "|",
    ]
    for hydra_dir in sorted(root.rglob(".hydra"), key=_natural):
        run = hydra_dir.parent
        name = str(run.relative_to(root)) or "."
        results_file = run / "results.json"
        if not results_file.is_file():
            rows.append(f"| {name} | (no results.json: failed or unfinished) |")
            continue
        r = json.loads(results_file.read_text())
        cells = [f"{r[m]:.4f}" if isinstance(r.get(m), float) else "-" for m in metrics]
        rows.append(
            f"| {name} | {r.get('model', '?')} | "
            + " | ".join(cells)
            + f" | {r.get('best_epoch', '-')} | {r.get('train_time_s', 0):.1f}"
            + f" | {r.get('wall_time_s', 0):.1f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a sweep or run directory")
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    args = parser.parse_args()
    print(summarize(args.root, args.metrics))


if __name__ == "__main__":
    main()
