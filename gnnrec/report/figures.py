"""Figures: accuracy–diversity Pareto fronts, learning curves, per-category recall.

Every plot is written as PNG and PDF with matplotlib's Agg backend (no display).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from gnnrec.report.collect import read_monitor
from gnnrec.report.tables import GroupSummary

RERANK_KEY = re.compile(r"^rerank/(?P<setting>[^/]+)/test/(?P<metric>[^/]+)$")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points when both coordinates are maximised, by ``x``.

    Point ``i`` is dominated when some ``j`` has ``x_j ≥ x_i`` and ``y_j ≥ y_i``
    with at least one strict inequality; equal points do not dominate each other.
    Points with a NaN coordinate are never on the front.
    """
    front = []
    for i, (xi, yi) in enumerate(points):
        if math.isnan(xi) or math.isnan(yi):
            continue
        dominated = any(
            xj >= xi and yj >= yi and (xj > xi or yj > yi)
            for j, (xj, yj) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], points[i][1]))


def _save(fig: plt.Figure, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.tight_layout()
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def rerank_points(group: GroupSummary, x_metric: str, y_metric: str) -> dict[str, tuple]:
    """``{setting: (mean x, mean y)}`` over the group's runs from ``rerank/<setting>/test/*``."""
    sums: dict[str, dict[str, list[float]]] = {}
    for row in group.rows:
        for key, value in row.items():
            match = RERANK_KEY.match(key)
            if match and match["metric"] in (x_metric, y_metric) and value is not None:
                sums.setdefault(match["setting"], {}).setdefault(match["metric"], [])
                sums[match["setting"]][match["metric"]].append(float(value))
    return {
        setting: (float(np.mean(v[x_metric])), float(np.mean(v[y_metric])))
        for setting, v in sums.items()
        if x_metric in v and y_metric in v
    }


def plot_pareto(groups: list[GroupSummary], x_metric: str, y_metric: str, stem: Path) -> list[Path]:
    """Scatter of configuration means (``y_metric`` vs ``x_metric``, test part) and
    re-ranked variants; the non-dominated front over all points is drawn as a line."""
    labels, points, is_rerank = [], [], []
    for group in groups:
        xs = [
            float(cast("str | float", r[f"test/{x_metric}"]))
            for r in group.rows
            if r.get(f"test/{x_metric}") is not None
        ]
        ys = [
            float(cast("str | float", r[f"test/{y_metric}"]))
            for r in group.rows
            if r.get(f"test/{y_metric}") is not None
        ]
        if xs and ys:
            labels.append(group.label)
            points.append((float(np.mean(xs)), float(np.mean(ys))))
            is_rerank.append(False)
        for setting, point in rerank_points(group, x_metric, y_metric).items():
            labels.append(f"{group.label} +{setting}")
            points.append(point)
            is_rerank.append(True)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for rerank, marker, name in ((False, "o", "model"), (True, "x", "re-ranked")):
        chosen = [p for p, r in zip(points, is_rerank, strict=True) if r is rerank]
        if chosen:
            ax.scatter(*zip(*chosen, strict=True), marker=marker, label=name, alpha=0.8)
    front = pareto_front(points)
    if front:
        ax.plot(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            "k--",
            lw=1,
            label="Pareto front",
        )
    for label, (x, y), rerank in zip(labels, points, is_rerank, strict=True):
        if not rerank:
            ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(x_metric)
    ax.set_ylabel(y_metric)
    ax.legend(fontsize=7)
    return _save(fig, stem)


def read_metrics_jsonl(run_dir: Path) -> list[dict]:
    """Rows of ``metrics.jsonl`` (empty when absent; blank or broken lines skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_learning_curves(
    groups: list[GroupSummary], default_monitor: str, stem: Path
) -> list[Path]:
    """Validation monitor (``valid/<train.monitor>``) per epoch, mean over seeds per config."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    monitors = set()
    plotted = False
    for group in groups:
        per_epoch: dict[int, list[float]] = {}
        for row in group.rows:
            run_dir = Path(str(row["run_dir"]))
            monitor = "valid/" + read_monitor(run_dir, default_monitor)
            monitors.add(monitor)
            for entry in read_metrics_jsonl(run_dir):
                if isinstance(entry.get(monitor), int | float) and "epoch" in entry:
                    per_epoch.setdefault(int(entry["epoch"]), []).append(float(entry[monitor]))
        if per_epoch:
            epochs = sorted(per_epoch)
            ax.plot(epochs, [np.mean(per_epoch[e]) for e in epochs], marker=".", label=group.label)
            plotted = True
    if not plotted:
        plt.close(fig)
        return []
    ax.set_xlabel("epoch")
    ax.set_ylabel(", ".join(sorted(monitors)))
    ax.legend(fontsize=7)
    return _save(fig, stem)


def read_per_category(run_dir: Path, column: str) -> dict[str, float]:
    """``{category: value}`` of ``column`` in ``per_category.tsv`` (empty when absent)."""
    path = Path(run_dir) / "per_category.tsv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {r["category"]: float(r[column]) for r in rows if r.get(column) not in (None, "")}


def plot_per_category(groups: list[GroupSummary], column: str, stem: Path) -> list[Path]:
    """Grouped bars of per-category ``column`` (e.g. ``recall@20``), mean over seeds."""
    means: dict[str, dict[str, float]] = {}
    for group in groups:
        values: dict[str, list[float]] = {}
        for row in group.rows:
            for cat, v in read_per_category(Path(str(row["run_dir"])), column).items():
                values.setdefault(cat, []).append(v)
        if values:
            means[group.label] = {c: float(np.mean(v)) for c, v in values.items()}
    if not means:
        return []
    categories = sorted({c for m in means.values() for c in m})
    width = 0.8 / len(means)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(categories)), 4.2))
    base = np.arange(len(categories))
    for i, (label, m) in enumerate(means.items()):
        heights = [m.get(c, np.nan) for c in categories]
        ax.bar(base + i * width, heights, width, label=label)
    ax.set_xticks(base + 0.4 - width / 2, categories, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(column)
    ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_tuning_history(
    trials: Sequence[dict], curves: dict[int, list[tuple[int, float]]], monitor: str, stem: Path
) -> list[Path]:
    """A search's history: each finished trial's value by trial number with
    the best so far (left), and every trial's validation curve by epoch,
    pruned ones grey (right: where pruning stopped them).

    ``trials`` are ``trials.jsonl`` rows (``number``, ``state``, ``value``);
    ``curves`` maps a trial number to its ``(epoch, value)`` points.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    marks = {"COMPLETE": ("o", "C0"), "PRUNED": ("x", "0.5"), "FAIL": ("v", "C3")}
    finite = [t["value"] for t in trials if t.get("value") is not None]
    floor = min(finite) if finite else 0.0
    for state, (marker, colour) in marks.items():
        rows = [t for t in trials if t["state"] == state]
        if not rows:
            continue
        # a failed trial has no value: drawn on the floor of the axis
        ys = [t["value"] if t.get("value") is not None else floor for t in rows]
        left.scatter([t["number"] for t in rows], ys, marker=marker, c=colour, label=state.lower())
    best, xs, ys = -math.inf, [], []
    for t in sorted(trials, key=lambda t: t["number"]):
        if t["state"] == "COMPLETE" and t.get("value") is not None:
            best = max(best, t["value"])
        if best > -math.inf:
            xs.append(t["number"])
            ys.append(best)
    left.step(xs, ys, where="post", c="C1", label="best so far")
    left.set(xlabel="trial", ylabel=monitor, title="search history")
    left.legend(fontsize="small")
    states = {t["number"]: t["state"] for t in trials}
    for number, points in sorted(curves.items()):
        if not points:
            continue
        pruned = states.get(number) == "PRUNED"
        ex, ey = zip(*points, strict=True)
        right.plot(ex, ey, c="0.6" if pruned else "C0", lw=0.8, alpha=0.7 if pruned else 0.9)
    right.set(xlabel="epoch", ylabel=monitor, title="validation curves (grey: pruned)")
    return _save(fig, stem)
