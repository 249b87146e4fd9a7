"""experiments/summarize.py turns run directories into a table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_summarize():
    spec = importlib.util.spec_from_file_location(
        "summarize", REPO / "experiments" / "summarize.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.summarize


def test_summarize_lists_finished_and_failed_runs(tmp_path):
    for name, results in (
        (
            "0-mf",
            {
                "model": "mf",
                "test/recall@20": 0.18,
                "best_epoch": 4,
                "train_time_s": 1.5,
                "wall_time_s": 2.0,
            },
        ),
        ("1-gat", None),
    ):
        run = tmp_path / name
        (run / ".hydra").mkdir(parents=True)
        if results:
            (run / "results.json").write_text(json.dumps(results))
    table = load_summarize()(tmp_path, ["test/recall@20", "test/ndcg@20"])
    lines = table.splitlines()
    assert (
        lines[0]
        == "| run | model | test/recall@20 | test/ndcg@20 | best epoch | train s | wall s |"
    )
    assert lines[2] == "| 0-mf | mf | 0.1800 | - | 4 | 1.5 | 2.0 |"
    assert lines[3] == "| 1-gat | (no results.json: failed or unfinished) |"
