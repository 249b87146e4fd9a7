r"""Paired significance tests of each configuration against a baseline, per user.

Per-user test metrics come from ``per_user.npz`` (or ``.parquet``) of each run.
Users are matched by their RAW id (``user_id``; the internal ``user`` index
when a file has no raw ids). With several seeds per configuration each user's
value is first averaged over the seeds, so a test sees one paired difference
per user: :math:`d_u = \bar{x}_u - \bar{b}_u`. Users whose value is NaN in
either configuration (e.g. ``cc_recall`` without cross-category test items)
are dropped from that comparison.

- paired t-test (``scipy.stats.ttest_rel``):
  :math:`t = \bar{d} / (s_d / \sqrt{n})`, two-sided, ``n - 1`` degrees of freedom;
- Wilcoxon signed-rank (``scipy.stats.wilcoxon``, zero differences dropped):
  :math:`W = \min(\sum_{d_u>0} r_u, \sum_{d_u<0} r_u)` over ranks of :math:`|d_u|`;
- effect size: mean paired difference :math:`\bar{d}` and Cohen's
  :math:`d_z = \bar{d} / s_d` (``s_d`` the sample std, ddof=1);
- multiple comparisons over all (configuration, metric) pairs: Holm and
  Benjamini–Hochberg, see :func:`holm` and :func:`benjamini_hochberg`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from gnnrec.errors import ConfigError, DataError
from gnnrec.report.tables import GroupSummary

PER_USER_FILES = ("per_user.npz", "per_user.parquet")


@dataclass
class Comparison:
    """One configuration vs the baseline on one metric."""

    label: str
    metric: str
    n_users: int
    mean_diff: float
    d_z: float
    t_p: float
    wilcoxon_p: float
    t_p_adj: float = math.nan
    wilcoxon_p_adj: float = math.nan


def holm(pvalues: Sequence[float]) -> np.ndarray:
    r"""Holm step-down adjusted p-values (controls the family-wise error rate).

    With :math:`p_{(1)} \le \dots \le p_{(m)}`:
    :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})`.
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    r"""Benjamini–Hochberg step-up adjusted p-values (controls the false discovery rate).

    With :math:`p_{(1)} \le \dots \le p_{(m)}`:
    :math:`\tilde p_{(i)} = \min_{j \ge i} \min(1, m\, p_{(j)} / j)`.
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return adjusted


CORRECTIONS = {"holm": holm, "bh": benjamini_hochberg}


def stars(p: float) -> str:
    """``***`` for p < 0.001, ``**`` < 0.01, ``*`` < 0.05, else ``""``."""
    if math.isnan(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def read_per_user(run_dir: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(user ids as str, values)`` of ``metric`` (e.g. ``"recall@20"``) for one run."""
    for name in PER_USER_FILES:
        path = Path(run_dir) / name
        if path.is_file():
            break
    else:
        raise DataError(
            f"no per-user file ({' or '.join(PER_USER_FILES)}); rerun with eval.save_per_user=true",
            path=run_dir,
        )
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            columns = {k: data[k] for k in data.files}
    else:
        import pyarrow.parquet as pq

        columns = {k: v.to_numpy() for k, v in pq.read_table(path).to_pydict().items()}
        columns = {k: np.asarray(v) for k, v in columns.items()}
    if metric not in columns:
        known = ", ".join(k for k in columns if k not in ("user", "user_id"))
        raise ConfigError(f"{path}: no per-user metric {metric!r}; file has: {known}")
    ids = columns.get("user_id", columns.get("user"))
    if ids is None:
        raise DataError("no 'user_id' or 'user' array", path=path)
    return np.asarray(ids).astype(str), np.asarray(columns[metric], dtype=float)


def align_users(
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    a_dir: str | Path,
    b_dir: str | Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match two ``(ids, values)`` by raw id; return ``(sorted ids, a values, b values)``.

    Raises :class:`DataError` naming both runs when their test-user sets differ.
    """
    (a_ids, a_vals), (b_ids, b_vals) = a, b
    for ids, run in ((a_ids, a_dir), (b_ids, b_dir)):
        if np.unique(ids).size != ids.size:
            raise DataError("per-user file repeats a user id", path=run)
    only_a, only_b = np.setdiff1d(a_ids, b_ids), np.setdiff1d(b_ids, a_ids)
    if only_a.size or only_b.size:
        example = ", ".join(map(str, [*only_a[:3], *only_b[:3]]))
        raise DataError(
            f"runs {a_dir} and {b_dir} were evaluated on different test users "
            f"({only_a.size} only in the first, {only_b.size} only in the second; e.g. {example})"
        )
    a_order, b_order = np.argsort(a_ids), np.argsort(b_ids)
    return a_ids[a_order], a_vals[a_order], b_vals[b_order]


def seed_averaged(run_dirs: Sequence[str | Path], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-user values averaged over the runs (seeds) of one configuration, by raw id."""
    ids, total = read_per_user(Path(run_dirs[0]), metric)
    ids, total, _ = align_users((ids, total), (ids, total), run_dirs[0], run_dirs[0])
    for run in run_dirs[1:]:
        ids, prev, vals = align_users(
            (ids, total), read_per_user(Path(run), metric), run_dirs[0], run
        )
        total = prev + vals
    return ids, total / len(run_dirs)


def paired_test(x: np.ndarray, baseline: np.ndarray) -> tuple[int, float, float, float, float]:
    """``(n, mean diff, d_z, t-test p, Wilcoxon p)`` for paired samples, NaN pairs dropped."""
    keep = ~(np.isnan(x) | np.isnan(baseline))
    d = x[keep] - baseline[keep]
    n = int(d.size)
    if n < 2:
        return n, float(d.mean()) if n else math.nan, math.nan, math.nan, math.nan
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    w_p = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    if sd == 0.0:
        # identical differences: t = ±inf (p = 0) or 0/0 when all are zero (p = 1)
        return n, mean, math.nan, 1.0 if mean == 0.0 else 0.0, w_p
    t_p = float(stats.ttest_rel(x[keep], baseline[keep]).pvalue)
    return n, mean, mean / sd, t_p, w_p


def compare_to_baseline(
    groups: list[GroupSummary],
    baseline: GroupSummary,
    metrics: Sequence[str],
    correction: str = "holm",
) -> list[Comparison]:
    """Test every other group against ``baseline`` on each per-user ``metric``.

    ``correction`` (``holm`` or ``bh``) adjusts t-test and Wilcoxon p-values
    separately, each over all comparisons.
    """
    if correction not in CORRECTIONS:
        raise ConfigError(f"unknown correction {correction!r}; expected one of holm, bh")
    base_dirs = [str(r["run_dir"]) for r in baseline.rows]
    results: list[Comparison] = []
    for metric in metrics:
        b_ids, b_vals = seed_averaged(base_dirs, metric)
        for group in groups:
            if group is baseline:
                continue
            dirs = [str(r["run_dir"]) for r in group.rows]
            ids, vals = seed_averaged(dirs, metric)
            _, x, b = align_users((ids, vals), (b_ids, b_vals), dirs[0], base_dirs[0])
            results.append(Comparison(group.label, metric, *paired_test(x, b)))
    adjust = CORRECTIONS[correction]
    for attr in ("t_p", "wilcoxon_p"):
        raw = np.array([getattr(c, attr) for c in results], dtype=float)
        valid = ~np.isnan(raw)
        adjusted = np.full(raw.shape, math.nan)
        if valid.any():
            adjusted[valid] = adjust(raw[valid])
        for comparison, value in zip(results, adjusted, strict=True):
            setattr(comparison, f"{attr}_adj", float(value))
    return results


def significance_markdown(
    comparisons: list[Comparison], baseline: GroupSummary, correction: str
) -> str:
    """The ``significance.md`` report: one row per (configuration, metric)."""
    seeds = len(baseline.rows)
    lines = [
        f"# Paired significance tests vs `{baseline.label}`",
        "",
        "Per-user test metrics, users matched by raw id; each user's value is averaged "
        f"over the seeds of a configuration first (baseline: {seeds} run(s)). Users with a "
        "NaN value in either configuration are dropped. Two-sided paired t-test and "
        f"Wilcoxon signed-rank; adjusted p-values use {correction_name(correction)} over all "
        f"{len(comparisons)} comparisons (each test separately). d_z = mean(d) / sd(d). "
        "Stars (adjusted Wilcoxon p): * < 0.05, ** < 0.01, *** < 0.001.",
        "",
        "| config | metric | users | mean diff | d_z | t-test p | t-test p adj "
        "| Wilcoxon p | Wilcoxon p adj | |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        cells = [
            c.label,
            c.metric,
            str(c.n_users),
            f"{c.mean_diff:+.4f}",
            f"{c.d_z:+.3f}",
            f"{c.t_p:.3g}",
            f"{c.t_p_adj:.3g}",
            f"{c.wilcoxon_p:.3g}",
            f"{c.wilcoxon_p_adj:.3g}",
            stars(c.wilcoxon_p_adj).replace("*", "\\*"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def correction_name(correction: str) -> str:
    """Human name of a correction key."""
    return {"holm": "Holm", "bh": "Benjamini–Hochberg"}.get(correction, correction)


def significance_cells(comparisons: list[Comparison]) -> dict[str, str]:
    """Per configuration label: ``metric p_adj***; ...`` for the Markdown table column."""
    cells: dict[str, list[str]] = {}
    for c in comparisons:
        mark = stars(c.wilcoxon_p_adj).replace("*", "\\*")
        cells.setdefault(c.label, []).append(f"{c.metric} {c.wilcoxon_p_adj:.3g}{mark}")
    return {label: "; ".join(parts) for label, parts in cells.items()}
