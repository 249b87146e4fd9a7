"""Equal-budget leaderboard of the model zoo on one dataset.

Every model is tuned by ``gnnrec-tune`` with the same budget (trials and
trial seconds, whichever first; training-free models search their small
grid), on the validation part only; its best configuration is then trained
and tested with 5 seeds (per-user vectors saved). ``gnnrec-report`` turns
the final runs into the table (mean ± std), Holm-adjusted paired tests
against LightGCN and the accuracy–diversity Pareto figures (LightGCN's
lists also re-ranked by MMR and calibration); this script adds the tuning
cost per model and writes ``<out>/README.md``.

Usage (from the repository root; each step is resumable — run the same
command again after a kill and finished studies and seeds are skipped)::

    python experiments/leaderboard.py ml-100k
    python experiments/leaderboard.py amazon-beauty --budget-s 480
    python experiments/leaderboard.py ml-100k --models lightgcn,mf --trials 10

Raw runs go to ``<out>/runs/`` (not committed); the tables, figures, each
model's best configuration and search history are written next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODELS = (
    "mostpop,itemknn,gfcf,mf,lightgcn,ngcf,sgl,simgcl,xsimgcl,rgcn,gcn,sage,"
    "catgraph,dgcn,dgrec,transformer,hgt,gat"
)
"""The zoo's models that run on any dataset with categories, cheapest first
(a partial run still has a table of the cheap ones)."""
METRICS = ("recall", "ndcg", "cc_recall", "cat_coverage", "ild")
RERANK = ("eval.rerank=[mmr,calibrated]", "eval.rerank_lambda=[0.1,0.2,0.3,0.5,0.7,0.9]")
"""LightGCN's final runs also re-rank their lists: the Pareto figures' curves."""


def tune(model: str, args: argparse.Namespace, runs: Path) -> dict:
    """One model's search and seeds through gnnrec-tune; its tuning.json."""
    folder = runs / model
    cmd = [
        str(BIN / "gnnrec-tune"),
        f"model={model}",
        f"dataset={args.dataset}",
        f"tune.dir={folder}",
        f"tune.n_trials={args.trials}",
        f"tune.budget_s={args.budget_s}",
        f"tune.seeds=[{','.join(str(s) for s in range(args.seeds))}]",
        "logger=none",
        "train.progress=false",
        *(
            [f"tune.final_overrides=[{','.join(repr(x) for x in RERANK)}]"]
            if model == "lightgcn"
            else []
        ),
        *args.overrides,
    ]
    started = time.perf_counter()
    log = folder / "tune.log"
    folder.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - started
    summary_path = folder / "tuning.json"
    if proc.returncode != 0 or not summary_path.is_file():
        print(f"{model}: gnnrec-tune failed ({proc.returncode}); see {log}", flush=True)
        return {}
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["command_wall_s"] = wall
    cell = summary.get("test/recall@20", {})
    print(
        f"{model}: {summary['trials']} trials ({summary['pruned']} pruned, "
        f"{summary['failed']} failed), best valid {summary['best_value']}, test recall@20 "
        f"{cell.get('mean', float('nan')):.4f} ± {cell.get('std', float('nan')):.4f}, "
        f"{wall / 60:.1f} min",
        flush=True,
    )
    return summary


def cost_table(summaries: dict[str, dict]) -> str:
    """Tuning cost per model: trials, pruned share, failures, CPU and wall time."""
    rows = [
        "| model | trials | pruned | failed | trial CPU time | trial wall time | "
        "seeds' wall time | best valid | best configuration |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, s in summaries.items():
        if not s:
            rows.append(f"| {model} | (failed: see runs/{model}/tune.log) |||||||| ")
            continue
        params = " ".join(f"{k}={_short(v)}" for k, v in (s.get("best_params") or {}).items())
        rows.append(
            f"| {model} | {s['trials']} | {100 * s['pruned_share']:.0f}% | {s['failed']} | "
            f"{s['trial_cpu_seconds'] / 60:.1f} min | {s['trial_seconds'] / 60:.1f} min | "
            f"{s['final_seconds'] / 60:.1f} min | {_short(s['best_value'])} | {params or '–'} |"
        )
    return "\n".join(rows)


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--trials", type=int, default=20, help="trials per model (default 20)")
    parser.add_argument(
        "--budget-s", type=float, default=240.0, help="summed trial seconds per model (240)"
    )
    parser.add_argument("--seeds", type=int, default=5, help="final runs per model (5)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="extra settings for every run")
    args = parser.parse_intermixed_args()
    out = args.out or ROOT / "experiments" / "leaderboard" / args.dataset
    runs = out / "runs"
    started = time.perf_counter()
    summaries = {m: tune(m, args, runs) for m in args.models.split(",")}
    finals = [str(runs / m / "final") for m, s in summaries.items() if s]
    if finals:
        report = [
            str(BIN / "gnnrec-report"), *finals, "--out", str(out),
            "--metrics", *METRICS, "--k", "20", "--baseline", "model=lightgcn",
            "--correction", "holm",
        ]  # fmt: skip
        subprocess.run(report, cwd=ROOT, check=True)
    (out / "best").mkdir(parents=True, exist_ok=True)
    for model, s in summaries.items():
        if s:
            shutil.copy(runs / model / "best.yaml", out / "best" / f"{model}.yaml")
            shutil.copy(runs / model / "history.png", out / "best" / f"{model}_history.png")
    total = time.perf_counter() - started
    (out / "cost.md").write_text(cost_table(summaries) + "\n", encoding="utf-8")
    (out / "budget.json").write_text(
        json.dumps(
            {
                "dataset": args.dataset,
                "trials_per_model": args.trials,
                "trial_seconds_per_model": args.budget_s,
                "seeds": args.seeds,
                "overrides": args.overrides,
                "models": list(summaries),
                "this_invocation_s": total,
                "cpu": os.cpu_count(),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\n{out}: {len(finals)} model(s) in the table; this run took {total / 60:.1f} min")


if __name__ == "__main__":
    main()
