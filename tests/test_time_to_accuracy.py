"""benchmarks/time_to_accuracy.py: the time-to-95% arithmetic on hand-made curves, the
report, and short end-to-end runs (gnnrec and PyG; RecBole when its peer env exists)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "time_to_accuracy.py"
PEER_PYTHON = Path(os.environ.get("GNNREC_PEER_PYTHON", REPO / ".peer-env" / "bin" / "python"))


def _module():
    spec = importlib.util.spec_from_file_location("time_to_accuracy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["time_to_accuracy"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


tta = _module()


def test_time_to_reach_is_the_first_point_at_or_above_the_target() -> None:
    curve = [(1.0, 0.1), (2.0, None), (3.0, 0.3), (4.0, 0.2), (5.0, 0.4)]
    assert tta.time_to_reach(curve, 0.25) == 2  # (3.0, 0.3), not the later 0.4
    assert tta.time_to_reach(curve, 0.1) == 0  # reaching counts (>=)
    assert tta.time_to_reach(curve, 0.5) is None
    assert tta.time_to_reach([], 0.1) is None


def test_summarise_hand_made_curves() -> None:
    curves = {
        "gnnrec": [(10.0, 0.10), (20.0, 0.195), (30.0, 0.20)],
        "pyg": [(5.0, 0.05), (40.0, 0.18), (80.0, 0.196)],
        "recbole": [(15.0, 0.12), (60.0, 0.15)],
    }
    s = tta.summarise(curves)
    # best of any tool 0.20 (gnnrec); target 0.95 * 0.20 = 0.19
    assert s["best_any"] == pytest.approx(0.20)
    assert s["target"] == pytest.approx(0.19)
    # gnnrec first >= 0.19 at 20 s (0.195); PyG at 80 s (0.196); RecBole never (0.15)
    assert s["tools"]["gnnrec"]["seconds"] == 20.0
    assert s["tools"]["pyg"]["seconds"] == 80.0
    assert s["tools"]["recbole"]["seconds"] is None
    # PyG needs 80 / 20 = 4x gnnrec's time; RecBole has no ratio; PyG is the better peer
    assert s["ratios"] == {"pyg": pytest.approx(4.0), "recbole": None}
    assert s["better_peer"] == "pyg"


def test_summarise_without_gnnrec_has_no_ratios() -> None:
    s = tta.summarise({"pyg": [(5.0, 0.2)], "recbole": [(3.0, 0.19), (4.0, 0.21)]})
    # target 0.95 * 0.21 = 0.1995: PyG at 5 s, RecBole at 4 s (0.19 is below)
    assert s["tools"]["recbole"]["seconds"] == 4.0
    assert s["tools"]["pyg"]["seconds"] == 5.0
    assert s["ratios"] == {"pyg": None, "recbole": None}
    assert s["better_peer"] == "recbole"


def _run(epoch: int, seconds: float, recall: float, train_s: float = 1.0) -> dict:
    return {
        "epoch": epoch,
        "seconds": seconds,
        "train_s": train_s,
        "epoch_s": train_s + 0.5,
        "loss": 0.5,
        tta.MONITOR: recall,
    }


def test_report_table_from_a_hand_made_report() -> None:
    split = {"train": 8, "valid": 1, "test": 1, "users": 2, "items": 3}
    report = {
        "dataset": "tiny",
        "machine": {"cpu": "cpu", "cpu_count": 2},
        "load_before": (1.0, 1.0, 1.0),
        "load_after": (1.0, 1.0, 1.0),
        "time_limit_s": 100.0,
        "max_epochs": None,
        "overrides": {"data": [], "gnnrec": ["train.lr=0.001"]},
        "tools": {
            "gnnrec": {
                "curve": [_run(1, 10.0, 0.1), _run(2, 12.0, 0.2), _run(3, 14.0, 0.21, 3.0)],
                "stopped": "early_stopping",
                "epochs_run": 3,
                "peak_rss_mb": 500.0,
                "test_recall": 0.19,
                "split": split,
            },
            "pyg": {
                "curve": [_run(1, 30.0, 0.15), _run(2, 60.0, 0.2)],
                "cut_off": True,
                "epochs_run": 2,
                "peak_rss_mb": 600.0,
                "test_recall": 0.18,
                # what a cut-off gnnrec run has (its log's counts): compared where present
                "split": {"train": 8, "valid": 1, "test": 1},
            },
        },
    }
    tta.add_summary(report)
    g, p = report["tools"]["gnnrec"], report["tools"]["pyg"]
    assert g["median_train_s"] == 1.0  # median of 1, 1, 3
    assert g["best_valid_recall"] == 0.21 and g["best_valid_epoch"] == 3
    # target 0.95 * 0.21 = 0.1995: gnnrec at epoch 2 (12 s), PyG at epoch 2 (60 s)
    assert report["summary"]["tools"]["gnnrec"]["epoch"] == 2
    assert report["summary"]["ratios"]["pyg"] == pytest.approx(5.0)
    assert p["best_valid_recall"] == 0.2
    assert report["split_check"]["same"]
    report["tools"]["pyg"]["split"]["valid"] = 2
    tta.add_summary(report)
    assert not report["split_check"]["same"]
    text = tta.markdown(report)
    assert (
        "| gnnrec | 1.00 | 1.50 | 3 | early_stopping | 500 | 12.0 | 2 | 0.2100 | 3 | 0.1900 |"
        in text
    )
    assert "**cut off at 100 s**" in text
    assert "5.00x gnnrec's time" in text
    assert "train.lr=0.001" in text


def _bench(tmp_path: Path, *args: str) -> dict:
    cmd = [sys.executable, str(SCRIPT), "--dataset", "ml-100k", "--out", str(tmp_path), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "time_to_accuracy-ml-100k.md").is_file()
    return json.loads((tmp_path / "time_to_accuracy-ml-100k.json").read_text())


def _check_curve(run: dict, epochs: int) -> None:
    assert "error" not in run, run.get("error")
    assert [p["epoch"] for p in run["curve"]] == list(range(1, epochs + 1))
    seconds = [p["seconds"] for p in run["curve"]]
    assert seconds == sorted(seconds) and seconds[0] > 0
    for point in run["curve"]:
        assert 0 < point[tta.MONITOR] < 1
        assert 0 < point["train_s"] <= point["epoch_s"]
    assert run["epochs_run"] == epochs and run["stopped"] == "max_epochs"
    assert 0 < run["test_recall"] < 1
    assert run["peak_rss_mb"] > 50
    assert run["setup_s"] > 0


@pytest.mark.slow
def test_gnnrec_and_pyg_on_ml100k(tmp_path: Path) -> None:
    # large batches: a few propagations per epoch, so that the test stays short
    report = _bench(
        tmp_path,
        *("--only", "gnnrec,pyg", "--max-epochs", "2", "--pyg-batch-size", "16384"),
        *("--gnnrec-override", "train.batch_size=16384"),
    )
    assert set(report["tools"]) == {"gnnrec", "pyg"}
    for run in report["tools"].values():
        _check_curve(run, 2)
    assert report["split_check"]["same"]
    assert report["split_check"]["counts"]["gnnrec"]["train"] > 40_000
    s = report["summary"]
    best = max(r["best_valid_recall"] for r in report["tools"].values())
    assert s["target"] == pytest.approx(0.95 * best)
    assert "train.batch_size=16384" in report["tools"]["gnnrec"]["command"]


@pytest.mark.slow
@pytest.mark.skipif(
    not PEER_PYTHON.exists(),
    reason="RecBole peer env absent (benchmarks/peer/setup_recbole.sh installs it)",
)
def test_recbole_on_ml100k(tmp_path: Path) -> None:
    report = _bench(tmp_path, "--only", "recbole", "--max-epochs", "1")
    run = report["tools"]["recbole"]
    _check_curve(run, 1)
    assert run["split"]["train"] > 40_000
    assert run["settings"]["n_layers"] == 3 and run["settings"]["embedding_size"] == 64
    assert run["versions"]["recbole"] == "1.2.1"
