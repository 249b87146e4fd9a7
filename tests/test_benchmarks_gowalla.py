"""The Gowalla time-to-accuracy benchmark's arithmetic (the run itself is a benchmark)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gowalla_lightgcn.py"


def _module():
    spec = importlib.util.spec_from_file_location("gowalla_lightgcn", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_epoch_reaching_the_target_skips_epochs_without_evaluation():
    gowalla = _module()
    curve = [
        {"epoch": 1, "recall@20": None},  # not evaluated (train.eval_every=2)
        {"epoch": 2, "recall@20": 0.1702},
        {"epoch": 3, "recall@20": None},
        {"epoch": 4, "recall@20": 0.1800},
        {"epoch": 6, "recall@20": 0.1810},
    ]
    assert gowalla.first_reaching(curve, "recall@20", 0.18)["epoch"] == 4
    assert gowalla.first_reaching(curve, "recall@20", 0.19) is None
