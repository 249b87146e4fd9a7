"""``gnnrec-report``: paper tables, paired significance tests and figures from finished runs.

    gnnrec-report SWEEP_OR_RUN_DIR... [--out DIR] [--metrics recall ndcg cat_coverage]
                  [--k 20] [--baseline model=lightgcn] [--correction holm|bh]

Writes into ``--out``: ``runs.csv``/``runs.parquet`` (one row per run),
``table.md``/``table.tex`` (mean ± std over seeds per configuration),
``significance.md`` (paired tests vs the baseline, from ``per_user.npz``),
``pareto_<x>.png/.pdf`` (recall vs each diversity metric),
``learning_curves.png/.pdf`` and ``per_category_recall.png/.pdf``. See
``docs/report.md``. Bad input exits 2 with one ``gnnrec-report: error:`` line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from gnnrec.errors import GnnrecError
from gnnrec.report import collect, figures, significance, tables

PROG = "gnnrec-report"
DIVERSITY_METRICS = ("cat_coverage", "ild", "cc_recall")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line arguments of ``gnnrec-report``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    parser.add_argument("paths", nargs="+", help="sweep or run directories (searched recursively)")
    parser.add_argument("--out", default="report", help="output directory (default: report)")
    parser.add_argument("--metrics", nargs="+", default=["recall", "ndcg", "cat_coverage"])
    parser.add_argument("--k", type=int, default=20, help="cutoff K (default: 20)")
    parser.add_argument("--baseline", default=None, help="key=value[,key=value]; default: first")
    parser.add_argument("--correction", choices=sorted(significance.CORRECTIONS), default="holm")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[Path]:
    """Build every report artefact; return the written paths."""
    runs = collect.collect_runs(args.paths)
    rows = runs.rows
    keys = [tables.metric_key(m, args.k) for m in args.metrics]
    tables.check_metrics(rows, keys)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = collect.write_runs(rows, out)

    groups = tables.summarise(tables.group_runs(rows, tables.config_columns(rows)), keys)
    baseline = tables.select_group(groups, args.baseline)
    per_user_metrics = [k.split("/", 1)[1] for k in keys]
    sig_cells: dict[str, str] | None = None
    missing = [
        str(row["run_dir"])
        for row in rows
        if not any(
            (Path(cast(str, row["run_dir"])) / n).is_file() for n in significance.PER_USER_FILES
        )
    ]
    if len(groups) > 1 and missing:
        text = (
            "# Paired significance tests\n\nSkipped: "
            f"{len(missing)} run(s) have no per-user file (rerun them with "
            "eval.save_per_user=true):\n\n" + "".join(f"- {m}\n" for m in missing)
        )
    elif len(groups) > 1:
        comparisons = significance.compare_to_baseline(
            groups, baseline, per_user_metrics, args.correction
        )
        text = significance.significance_markdown(comparisons, baseline, args.correction)
        sig_cells = significance.significance_cells(comparisons)
        sig_cells[baseline.label] = "baseline"
    else:
        text = "# Paired significance tests\n\nOnly one configuration: nothing to compare.\n"
    (out / "significance.md").write_text(text, encoding="utf-8")
    header = f"Wilcoxon p ({args.correction}) vs {baseline.label}"
    markdown = tables.markdown_table(groups, keys, sig_cells, header)
    if runs.failed:
        markdown += f"\n{len(runs.failed)} failed run(s) (error.txt) not included.\n"
    (out / "table.md").write_text(markdown, encoding="utf-8")
    (out / "table.tex").write_text(tables.latex_table(groups, keys), encoding="utf-8")
    written += [out / "significance.md", out / "table.md", out / "table.tex"]

    accuracy = f"recall@{args.k}"
    for diversity in DIVERSITY_METRICS:
        if any(f"test/{diversity}@{args.k}" in row for row in rows):
            stem = out / f"pareto_{diversity}"
            written += figures.plot_pareto(groups, f"{diversity}@{args.k}", accuracy, stem)
    written += figures.plot_learning_curves(groups, accuracy, out / "learning_curves")
    written += figures.plot_per_category(groups, accuracy, out / "per_category_recall")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point of ``gnnrec-report``; returns the exit status."""
    args = parse_args(argv)
    try:
        written = run(args)
    except GnnrecError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
