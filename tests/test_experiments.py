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


def test_zoo_table_orders_models_bolds_the_best_and_lets_reruns_win(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "zoo_table", REPO / "experiments" / "zoo_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def result(model, recall, train=1.0):
        keys = [k for k, _ in module.COLUMNS]
        return {
            "model": model,
            **dict.fromkeys(keys, 0.1),
            "test/recall@20": recall,
            "best_epoch": 3,
            "train_time_s": train,
            "wall_time_s": 2.0,
        }

    for sweep, name, res in (
        ("a", "0-simgcl", result("simgcl", 0.1)),
        ("a", "1-mostpop", {**result("mostpop", 0.05, train=0.0), "valid/recall@20": None}),
        ("b", "0-simgcl", result("simgcl", 0.3)),
    ):
        (tmp_path / sweep / name).mkdir(parents=True)
        (tmp_path / sweep / name / "results.json").write_text(json.dumps(res))
    lines = module.table(module.load([tmp_path / "a", tmp_path / "b"])).splitlines()
    assert lines[2].startswith("| mostpop | 0.0500 |") and lines[2].endswith(
        "| – | 2.0 s (whole run) |"
    )
    assert lines[3].startswith("| simgcl | **0.3000** |") and lines[3].endswith("| 3 | 1.0 s |")


def load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cross_category_table_compares_each_model_with_mmr_at_its_coverage(tmp_path):
    module = load_module("cross_category_table")
    # MMR curve (coverage, recall): (10, 0.20) at lambda 0, (12, 0.19), (14, 0.15)
    assert abs(module.recall_at_coverage([(10, 0.20), (12, 0.19), (14, 0.15)], 13) - 0.17) < 1e-12
    assert module.recall_at_coverage([(10, 0.20), (12, 0.19)], 15) is None

    def metrics(prefix, recall, coverage):
        return {f"{prefix}test/recall@20": recall, f"{prefix}test/cat_coverage@20": coverage}

    runs = {
        "lightgcn": {
            "model": "lightgcn",
            **metrics("", 0.20, 10.0),
            **metrics("rerank/mmr@0.5/", 0.19, 12.0),
            **metrics("rerank/mmr@1/", 0.15, 14.0),
        },
        # coverage 13: MMR's recall there is 0.17 (-0.03); the model loses only 0.01
        "dgcn": {"model": "dgcn", **metrics("", 0.19, 13.0)},
        # coverage 11: MMR's recall there is 0.195 (-0.005); the model loses 0.02
        "dgrec": {"model": "dgrec", **metrics("", 0.18, 11.0)},
        "catgraph": {"model": "catgraph", **metrics("", 0.21, 9.0)},
    }
    for name, result in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(result))
    lines = module.table(module.load(tmp_path)).splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert rows["dgcn"].endswith("| -0.0100 | +3.00 | -0.0300 (model better) |")
    assert rows["dgrec"].endswith("| -0.0200 | +1.00 | -0.0050 (MMR better) |")
    assert rows["catgraph"].endswith("| +0.0100 | -1.00 | no coverage gain |")
    assert rows["lightgcn + mmr@0.5"].endswith("| (is the curve) |")
    assert list(rows)[:4] == ["lightgcn", "dgcn", "dgrec", "catgraph"]
