"""Tests of gnnrec.report and ``gnnrec-report`` on hand-built run directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gnnrec.cli.report import main
from gnnrec.errors import DataError
from gnnrec.report.collect import collect_runs
from gnnrec.report.figures import pareto_front
from gnnrec.report.significance import (
    align_users,
    benjamini_hochberg,
    compare_to_baseline,
    holm,
    paired_test,
)
from gnnrec.report.tables import (
    config_columns,
    group_runs,
    markdown_table,
    mean_std,
    select_group,
    summarise,
)


def make_run(
    root: Path,
    name: str,
    model: str,
    seed: int,
    recall: float,
    users: list[str],
    per_user_recall: list[float],
    dim: str = "64",
) -> Path:
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    results = {
        "model": model,
        "dataset": "toy",
        "seed": seed,
        "test/recall@20": recall,
        "test/ndcg@20": recall / 2,
        "test/cat_coverage@20": 10 - 20 * recall,
        "rerank/mmr@0.5/test/recall@20": recall * 0.9,
        "rerank/mmr@0.5/test/cat_coverage@20": 12 - 20 * recall,
        "versions": {"torch": "x"},
    }
    (run / "results.json").write_text(json.dumps(results))
    (run / ".hydra" / "overrides.yaml").write_text(
        f"- model={model}\n- seed={seed}\n- model.dim={dim}\n- hydra.run.dir={run}\n"
    )
    (run / "config.yaml").write_text("train:\n  monitor: recall@20\n")
    lines = [json.dumps({"epoch": e, "valid/recall@20": recall * e / 2}) for e in range(3)]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    values = np.asarray(per_user_recall)
    np.savez(
        run / "per_user.npz",
        user=np.arange(len(users)),
        user_id=np.asarray(users, dtype=str),
        **{"recall@20": values, "ndcg@20": values / 2, "cat_coverage@20": values * 3},
    )
    return run


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    users = ["u1", "u2", "u3", "u4", "u5"]
    base = [0.1, 0.2, 0.0, 0.4, 0.3]
    make_run(root, "0", "lightgcn", 1, 0.1, users, base)
    make_run(root, "1", "lightgcn", 2, 0.2, users, base)
    make_run(root, "2", "lightgcn", 3, 0.3, users, base)
    better = [0.3, 0.5, 0.2, 0.6, 0.4]
    # same users in a different order: matched by raw id
    order = [4, 2, 0, 3, 1]
    make_run(root, "sub/3", "ngcf", 1, 0.4, [users[i] for i in order], [better[i] for i in order])
    make_run(root, "sub/4", "ngcf", 2, 0.6, users, better)
    failed = root / "5"
    failed.mkdir()
    (failed / "error.txt").write_text("boom")
    return root


def test_collect_one_row_per_run_with_varying_overrides(sweep: Path) -> None:
    runs = collect_runs([sweep])
    assert len(runs.rows) == 5 and runs.failed == [sweep / "5"]
    row = runs.rows[0]
    assert row["test/recall@20"] == 0.1 and "versions" not in row
    # model and seed vary; model.dim (constant) and hydra.run.dir (ignored) are not columns
    assert "override/seed" in row and "override/model" in row
    assert "override/model.dim" not in row and "override/hydra.run.dir" not in row


def test_mean_std_and_bold_best(sweep: Path) -> None:
    # lightgcn recall: 0.1, 0.2, 0.3 → mean 0.2, sample std sqrt((0.01+0+0.01)/2) = 0.1
    assert mean_std([0.1, 0.2, 0.3]) == pytest.approx((0.2, 0.1))
    rows = collect_runs([sweep]).rows
    keys = ["test/recall@20", "test/cat_coverage@20"]
    groups = summarise(group_runs(rows, config_columns(rows)), keys)
    assert [g.label for g in groups] == ["lightgcn", "ngcf"]
    # ngcf recall: 0.4, 0.6 → 0.5 ± sqrt(0.02) = 0.1414
    assert groups[1].stats["test/recall@20"][:2] == pytest.approx((0.5, 0.02**0.5))
    table = markdown_table(groups, keys)
    # best recall is ngcf, best coverage (10 - 20 * recall) is lightgcn: 6.0 ± 2.0
    assert "| ngcf | 2 | **0.5000 ± 0.1414** | 0.0000 ± 2.8284 |" in table
    assert "| lightgcn | 3 | 0.2000 ± 0.1000 | **6.0000 ± 2.0000** |" in table
    assert select_group(groups, "model=ngcf") is groups[1]


def test_holm_and_bh_hand_computed() -> None:
    # sorted 0.01, 0.03, 0.04; Holm: 3*0.01=0.03, 2*0.03=0.06, max(0.06, 1*0.04)=0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # BH: 3*0.01/1=0.03, min(3*0.03/2=0.045, 0.04)=0.04, 3*0.04/3=0.04
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_paired_test_matches_scipy_and_effect_size() -> None:
    x = np.array([0.3, 0.5, 0.2, 0.6, 0.45])
    b = np.array([0.1, 0.2, 0.0, 0.4, 0.3])
    n, mean, d_z, t_p, w_p = paired_test(x, b)
    d = x - b  # 0.2, 0.3, 0.2, 0.2, 0.15 → mean 0.21
    assert n == 5 and mean == pytest.approx(0.21)
    assert d_z == pytest.approx(0.21 / d.std(ddof=1))
    assert t_p == pytest.approx(stats.ttest_rel(x, b).pvalue)
    assert w_p == pytest.approx(stats.wilcoxon(d).pvalue)


def test_users_matched_by_raw_id_and_mismatch_is_an_error() -> None:
    a = (np.array(["u2", "u1"]), np.array([2.0, 1.0]))
    b = (np.array(["u1", "u2"]), np.array([10.0, 20.0]))
    ids, x, y = align_users(a, b, "runA", "runB")
    assert list(ids) == ["u1", "u2"] and list(x) == [1.0, 2.0] and list(y) == [10.0, 20.0]
    with pytest.raises(DataError, match="runA and runC were evaluated on different test users"):
        align_users(a, (np.array(["u1", "u3"]), np.array([0.0, 0.0])), "runA", "runC")


def test_compare_averages_seeds_and_corrects(sweep: Path) -> None:
    rows = collect_runs([sweep]).rows
    groups = summarise(group_runs(rows, config_columns(rows)), ["test/recall@20"])
    result = compare_to_baseline(groups, groups[0], ["recall@20", "ndcg@20"], "holm")
    assert [c.metric for c in result] == ["recall@20", "ndcg@20"]
    # both ngcf seeds hold the same per-user vector, so the seed mean is that vector
    better, base = np.array([0.3, 0.5, 0.2, 0.6, 0.4]), np.array([0.1, 0.2, 0.0, 0.4, 0.3])
    assert result[0].mean_diff == pytest.approx(0.2)
    assert result[0].t_p == pytest.approx(stats.ttest_rel(better, base).pvalue)
    assert result[0].t_p_adj == pytest.approx(holm([result[0].t_p, result[1].t_p])[0])


def test_compare_mismatched_user_sets_names_both_runs(sweep: Path) -> None:
    make_run(sweep, "6", "mf", 1, 0.1, ["u1", "u2", "u9"], [0.0, 0.1, 0.2])
    rows = collect_runs([sweep]).rows
    groups = group_runs(rows, config_columns(rows))
    with pytest.raises(DataError, match=r"6 and .*different test users"):
        compare_to_baseline(groups, groups[0], ["recall@20"])


def test_pareto_front_hand_case() -> None:
    # (1,5) (2,4) (3,1) non-dominated; (1,3) dominated by (2,4); (2,1) by (3,1)
    points = [(1.0, 5.0), (2.0, 4.0), (1.0, 3.0), (3.0, 1.0), (2.0, 1.0)]
    assert pareto_front(points) == [0, 1, 3]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]


def test_cli_end_to_end(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report"
    assert main([str(sweep), "--out", str(out), "--baseline", "model=lightgcn"]) == 0
    for name in ["runs.csv", "runs.parquet", "table.md", "table.tex", "significance.md"]:
        assert (out / name).is_file(), name
    for stem in ["pareto_cat_coverage", "learning_curves"]:
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").is_file()
    table = (out / "table.md").read_text()
    assert "Wilcoxon p (holm) vs lightgcn" in table and "1 failed run(s)" in table
    assert (
        "\\textbf{" in (out / "table.tex").read_text()
        and "$\\pm$" in (out / "table.tex").read_text()
    )
    assert "averaged over the seeds" in (out / "significance.md").read_text()

    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main([str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gnnrec-report: error: no finished runs") and err.count("\n") == 1
    assert main([str(sweep), "--out", str(out), "--metrics", "nope"]) == 2
