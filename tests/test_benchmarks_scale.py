"""The scale benchmarks run end to end on tiny sizes, and the GPU model adds up."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_train_scale_writes_a_row_per_size(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(BENCHMARKS / "train_scale.py"),
        "--sizes", "2e4", "5e4",
        "--steps", "2",
        "--warmup", "1",
        "--threads", "1",
        "--out", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "train_scale.json").read_text())
    assert [row["rows"] for row in report["sizes"]] == [20_000, 50_000]
    for row in report["sizes"]:
        assert 0 < row["interactions"] <= row["rows"]  # repeated pairs are dropped
        for key in ("data_build_s", "graph_s", "step_s", "epoch_s", "eval_s", "peak_rss_mb"):
            assert row[key] > 0, key
        assert row["epoch_kind"] == "extrapolated"
        assert row["epoch_s"] == pytest.approx(row["steps_per_epoch"] * row["step_s"])
        assert len(row["step_times_s"]) == 2
        assert row["peak_rss_mb"] >= row["import_peak_mb"]
    law = report["growth_law"]
    assert all(isinstance(law[k], float) for k in ("epoch_s", "step_s", "peak_rss_mb"))
    table = (tmp_path / "train_scale.md").read_text()
    assert "| 20,000 |" in table and "| 50,000 |" in table and "Growth law" in table


def test_growth_law_slope_recovers_an_exponent() -> None:
    train_scale = _module("train_scale")
    n = [1e6, 3e6, 1e7]
    assert train_scale.slope(n, [2 * x**1.5 for x in n]) == pytest.approx(1.5)
    assert train_scale.slope([1e6], [1.0]) is None


def test_gpu_model_memory_terms_add_up() -> None:
    gpu_model = _module("gpu_model")
    w, a = gpu_model.Workload(), gpu_model.Assumptions()
    m = gpu_model.memory_terms(w, a)
    base = sum(b for _, b in m["persistent"])
    assert m["train_peak"] == pytest.approx(base + sum(b for _, b in m["train"]))
    assert m["eval_peak"] == pytest.approx(base + sum(b for _, b in m["eval"]))
    assert m["peak"] == max(m["train_peak"], m["eval_peak"])
    terms = dict(m["persistent"])
    # (5M users + 1M items) x 64 dims x 4 bytes = 1.536 GB
    assert terms["embedding table E(0) [N, d]"] == (5_000_000 + 1_000_000) * 64 * 4
    # Adam: two moments of the same size
    assert terms["Adam moments (2 x [N, d])"] == 2 * 1_536_000_000
    # CSR: indptr (6M + 1) x 8, indices 200M x 8, values 200M x 4 = 2.448 GB
    assert terms["CSR adjacency (indptr, indices, values)"] == 6_000_001 * 8 + 200_000_000 * 12
    int32 = gpu_model.memory_terms(gpu_model.Workload(index_bytes=4), a)
    assert int32["peak"] < m["peak"]


def test_gpu_model_time_follows_bandwidth() -> None:
    gpu_model = _module("gpu_model")
    w, a = gpu_model.Workload(), gpu_model.Assumptions()
    # one SpMM: 200M x (8 + 4) + (6M + 1) x 8 + 200M x 64 x 4 + 6M x 64 x 4 bytes
    assert gpu_model.spmm_bytes(w) == 200e6 * 12 + 6_000_001 * 8 + 200e6 * 256 + 6e6 * 256
    slow = gpu_model.step_time(w, a, 1e12, 1e12)
    fast = gpu_model.step_time(w, a, 2e12, 2e12)
    assert slow["spmm_s"] == pytest.approx(2 * fast["spmm_s"])
    assert slow["epoch_s"] == pytest.approx(slow["step_s"] * 6104)  # ceil(100M / 16384)


def test_gpu_model_script_writes_its_report(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCHMARKS / "gpu_model.py"), "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_model.json").read_text())
    total = sum(b for _, b in report["memory"]["persistent"] + report["memory"]["train"])
    assert report["memory"]["train_peak"] == pytest.approx(total)
    text = (tmp_path / "gpu_model.md").read_text()
    assert "model" in text.splitlines()[0] and "fits in 80 GB" in text
