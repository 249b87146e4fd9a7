"""Group runs by configuration and summarise metrics as mean ± std over seeds.

A configuration is identified by ``model``, ``dataset`` when it varies, and
every varying override except ``seed`` (and ``model``/``dataset``, already
columns). For ``n`` seeds with values ``x_1..x_n``:

    mean = (1/n) Σ x_i,    std = sqrt( Σ (x_i - mean)² / (n - 1) )   (sample std)

``std`` is NaN for a single run and printed as the mean alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gnnrec.errors import ConfigError
from gnnrec.report.collect import OVERRIDE_PREFIX, Scalar

LOWER_IS_BETTER = ("avg_pop", "cat_gini", "item_gini", "miscalibration", "cat_exposure_kl")
"""Metric names whose best value is the smallest."""

NOT_CONFIG = {"seed", "model", "dataset"}

Row = dict[str, Scalar]
ConfigKey = tuple[tuple[str, str], ...]


@dataclass
class GroupSummary:
    """One configuration: its key, label, runs and ``{metric key: (mean, std, n)}``."""

    key: ConfigKey
    label: str
    rows: list[Row]
    stats: dict[str, tuple[float, float, int]] = field(default_factory=dict)


def metric_key(name: str, k: int, part: str = "test") -> str:
    """``("recall", 20)`` → ``"test/recall@20"``; a name with ``@`` keeps its own cutoff."""
    return f"{part}/{name}" if "@" in name else f"{part}/{name}@{k}"


def check_metrics(rows: list[Row], keys: list[str]) -> None:
    """Raise :class:`ConfigError` for a metric key that no run reports, listing known ones."""
    known = {k for row in rows for k in row}
    for key in keys:
        if key not in known:
            part = key.split("/", 1)[0] + "/"
            names = sorted(
                {k[len(part) :] for k in known if k.startswith(part) and k.count("/") == 1}
            )
            raise ConfigError(f"unknown metric {key!r}; runs report: {', '.join(names)}")


def config_columns(rows: list[Row]) -> list[str]:
    """Columns that identify a configuration: ``model``, ``dataset`` if it varies, overrides."""
    columns = ["model"]
    if len({row.get("dataset") for row in rows}) > 1:
        columns.append("dataset")
    for key in rows[0]:
        name = key[len(OVERRIDE_PREFIX) :]
        if key.startswith(OVERRIDE_PREFIX) and name not in NOT_CONFIG:
            columns.append(key)
    return columns


def config_label(key: ConfigKey) -> str:
    """``(("model","lightgcn"),("override/model.dim","64"))`` → ``"lightgcn model.dim=64"``
    (overrides a run does not have are left out)."""
    parts: list[str] = []
    for column, value in key:
        if column == "model":
            parts.insert(0, value)
        elif value not in (None, ""):  # an override this run does not have
            parts.append(f"{column.removeprefix(OVERRIDE_PREFIX)}={value}")
    return " ".join(parts)


def group_runs(rows: list[Row], columns: list[str]) -> list[GroupSummary]:
    """Group rows by their values in ``columns``, in order of first appearance."""
    groups: dict[ConfigKey, list[Row]] = {}
    for row in rows:
        key = tuple((c, str(row.get(c, ""))) for c in columns)
        groups.setdefault(key, []).append(row)
    return [GroupSummary(key=k, label=config_label(k), rows=v) for k, v in groups.items()]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN when ``len(values) < 2``)."""
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if array.size > 1 else math.nan
    return float(array.mean()), std


def summarise(groups: list[GroupSummary], keys: list[str]) -> list[GroupSummary]:
    """Fill ``stats`` of every group with mean ± std over its runs for each metric key."""
    for group in groups:
        for key in keys:
            values = [float(v) for row in group.rows if isinstance(v := row.get(key), int | float)]
            mean, std = mean_std(values) if values else (math.nan, math.nan)
            group.stats[key] = (mean, std, len(values))
    return groups


def best_indices(groups: list[GroupSummary], keys: list[str]) -> dict[str, int]:
    """Index of the group with the best mean per metric (max, or min for LOWER_IS_BETTER)."""
    best: dict[str, int] = {}
    for key in keys:
        means = np.array([g.stats[key][0] for g in groups], dtype=float)
        if np.all(np.isnan(means)):
            continue
        lower = key.rsplit("/", 1)[-1].split("@")[0] in LOWER_IS_BETTER
        best[key] = int(np.nanargmin(means) if lower else np.nanargmax(means))
    return best


def format_cell(mean: float, std: float, pm: str = " ± ", digits: int = 4) -> str:
    """``0.1234 ± 0.0012``; the mean alone for one run; ``–`` when missing."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f}{pm}{std:.{digits}f}"


def markdown_table(
    groups: list[GroupSummary],
    keys: list[str],
    significance: dict[str, str] | None = None,
    significance_header: str = "sig. vs baseline",
) -> str:
    """A Markdown table (config, n, one column per metric; best mean in ``**bold**``).

    ``significance`` maps a group label to a cell for an extra column.
    """
    best = best_indices(groups, keys)
    header = ["config", "n", *[k.split("/", 1)[-1] for k in keys]]
    if significance is not None:
        header.append(significance_header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, group in enumerate(groups):
        cells = [group.label, str(max((group.stats[k][2] for k in keys), default=0))]
        for key in keys:
            mean, std, _ = group.stats[key]
            cell = format_cell(mean, std)
            cells.append(f"**{cell}**" if best.get(key) == i else cell)
        if significance is not None:
            cells.append(significance.get(group.label, ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char in ("\\", "&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(char, "\\" + char)
    return text


def latex_table(groups: list[GroupSummary], keys: list[str]) -> str:
    """A LaTeX ``booktabs`` tabular; best mean per column in ``\\textbf{}``, ``$\\pm$``."""
    best = best_indices(groups, keys)
    names = [_latex_escape(k.split("/", 1)[-1]) for k in keys]
    lines = [
        "\\begin{tabular}{l" + "c" * len(keys) + "}",
        "\\toprule",
        "Config & " + " & ".join(names) + " \\\\",
        "\\midrule",
    ]
    for i, group in enumerate(groups):
        cells = [_latex_escape(group.label)]
        for key in keys:
            mean, std, _ = group.stats[key]
            cell = format_cell(mean, std, pm=" $\\pm$ ")
            cells.append(f"\\textbf{{{cell}}}" if best.get(key) == i else cell)
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def select_group(groups: list[GroupSummary], spec: str | None) -> GroupSummary:
    """The group matching ``spec`` (``key=value[,key=value]``; first group when ``None``).

    ``model``/``dataset`` match those columns; other keys match overrides. Raises
    :class:`ConfigError` when none or several groups match.
    """
    if not spec:
        return groups[0]
    wanted: dict[str, str] = {}
    for part in spec.replace(" ", ",").split(","):
        if part:
            key, sep, value = part.partition("=")
            if not sep:
                raise ConfigError(f"--baseline expects key=value, got {part!r}")
            wanted[key] = value
    matches = []
    for group in groups:
        row = group.rows[0]
        if all(str(row.get(k, row.get(OVERRIDE_PREFIX + k, ""))) == v for k, v in wanted.items()):
            matches.append(group)
    labels = ", ".join(repr(g.label) for g in groups)
    if not matches:
        raise ConfigError(f"--baseline {spec!r} matches no configuration; have {labels}")
    if len(matches) > 1:
        found = ", ".join(repr(g.label) for g in matches)
        raise ConfigError(f"--baseline {spec!r} matches several configurations: {found}")
    return matches[0]
