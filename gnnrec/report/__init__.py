"""Reporting over finished runs: collect, tabulate, test, plot (``gnnrec-report``).

Data flow: run directories → :mod:`~gnnrec.report.collect` (one row per run)
→ :mod:`~gnnrec.report.tables` (mean ± std per configuration) and
:mod:`~gnnrec.report.significance` (paired per-user tests against a baseline)
→ :mod:`~gnnrec.report.figures` (accuracy–diversity fronts, learning curves).
"""
