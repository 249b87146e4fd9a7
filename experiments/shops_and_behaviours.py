"""Side signals on real e-commerce logs: cross-shop transfer (Amazon Sport–Cloth)
and cart/follow events for buy prediction (JData), against LightGCN.

    python experiments/shops_and_behaviours.py sport-cloth [--seeds 3] [overrides ...]
    python experiments/shops_and_behaviours.py jdata [--seeds 3] [overrides ...]

Each arm is one ``gnnrec-train`` command per seed (its overrides are printed
and written to the table), in ``experiments/shops_and_behaviours/<recipe>/runs/``
(not committed; a finished run is not run again, so a stopped recipe
continues). The tables (``table.md`` next to the runs) give mean ± std over
the seeds, time and peak memory per run, and paired tests of each arm against
the block's baseline on the per-user values averaged over seeds (t-test and
Wilcoxon, Holm-adjusted within the block).

Extra arguments are ``gnnrec-train`` overrides for every arm (e.g.
``train.epochs=5`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gnnrec.report.significance import align_users, holm, paired_test, seed_averaged, stars

ROOT = Path(__file__).resolve().parent / "shops_and_behaviours"


@dataclass(frozen=True)
class Arm:
    """One configuration of a comparison block."""

    label: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    """Arms compared against the first (the baseline) on ``metrics``."""

    title: str
    arms: tuple[Arm, ...]
    metrics: tuple[str, ...]
    tested: str  # the per-user metric of the paired tests


SAMPLED = ("eval.sampled.negatives=999", "eval.sampled.sampler=uniform", "eval.sampled.ks=[10]")
SHOP_METRICS = (
    "recall@20",
    "ndcg@20",
    "sampled999_uniform/hit@10",
    "sampled999_uniform/ndcg@10",
)
# Both shops' training files train every multi-shop arm; `target_domain` keeps the
# target shop's test pairs and ranks its own catalogue only.
# One training recipe for every arm (not tuned per model): large batches, 40 epochs at most,
# early stopping on validation Recall@20 with patience 10.
TRAIN = ("train.epochs=40", "train.batch_size=8192", "train.lr=0.02", "train.patience=10")
SHOP_COMMON = ("dataset=amazon-sport-cloth", *TRAIN, *SAMPLED)


def shop_blocks() -> list[Block]:
    blocks = []
    for shop in ("sport", "cloth"):
        target = (f"target_domain={shop}",)
        blocks.append(
            Block(
                f"{shop.capitalize()} (all test users, the published test file)",
                (
                    Arm("LightGCN, both shops (merged graph)", ("model=lightgcn", *target)),
                    Arm(
                        f"LightGCN, {shop} only",
                        ("model=lightgcn", *target, f"dataset.domains=[{shop}]"),
                    ),
                    Arm("CrossDomainGCN", ("model=crossdomain", *target)),
                ),
                SHOP_METRICS,
                "recall@20",
            )
        )
        # the dataset config's valid_from_train belongs to split=predefined
        cold = ("split=cross_domain", "~split.valid_from_train", f"split.target={shop}", *target)
        blocks.append(
            Block(
                f"{shop.capitalize()}, users cold in it (split=cross_domain, 20% of users)",
                (
                    Arm("LightGCN, both shops (merged graph)", ("model=lightgcn", *cold)),
                    Arm("CrossDomainGCN", ("model=crossdomain", *cold)),
                    Arm("MostPop", ("model=mostpop", *cold)),
                ),
                SHOP_METRICS,
                "recall@20",
            )
        )
    return blocks


JDATA_METRICS = ("recall@20", "ndcg@20", "hit@10", "ndcg@10")
JDATA_COMMON = ("dataset=jdata-behavior", *TRAIN, "eval.monitor_users=10000")


def jdata_blocks() -> list[Block]:
    typed = "model.graph.behavior_relations=true"
    return [
        Block(
            "JData, target buy (full ranking; training buys masked)",
            (
                Arm("LightGCN, buys only", ("model=lightgcn", "dataset.behavior_weights={buy:1}")),
                Arm("LightGCN, all behaviours merged", ("model=lightgcn",)),
                Arm("MBLightGCN (learned per-behaviour weights)", ("model=mblightgcn",)),
                Arm(
                    "CascadeGCN (CRGCN: follow > cart > buy)",
                    ("model=cascade", "model.order=[collect,cart,buy]"),
                ),
                Arm("R-GCN, one relation per behaviour", ("model=rgcn", typed)),
                # ~85 s per epoch on the 2-core CPU: budget-capped at 12 epochs
                Arm(
                    "HGT, one relation per behaviour (12 epochs at most)",
                    ("model=hgt", typed, "train.epochs=12"),
                ),
            ),
            JDATA_METRICS,
            "recall@20",
        )
    ]


RECIPES = {
    "sport-cloth": (shop_blocks, SHOP_COMMON),
    "jdata": (jdata_blocks, JDATA_COMMON),
}


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def run_arm(out: Path, common: tuple[str, ...], arm: Arm, seed: int, extra: list[str]) -> Path:
    run_dir = out / "runs" / slug(" ".join([*arm.overrides, *extra])) / f"seed-{seed}"
    if (run_dir / "results.json").is_file():
        return run_dir
    command = [
        str(Path(sys.executable).with_name("gnnrec-train")),
        *common,
        *arm.overrides,
        f"seed={seed}",
        "logger=none",
        "train.progress=false",
        "eval.save_per_user=true",
        *extra,
        f"hydra.run.dir={run_dir}",
    ]
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def cell(values: list[float]) -> str:
    if not values or any(math.isnan(v) for v in values):
        return "–"
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {std:.4f}"


def block_table(block: Block, runs: dict[Arm, list[Path]]) -> list[str]:
    results = {
        arm: [json.loads((d / "results.json").read_text()) for d in runs[arm]] for arm in block.arms
    }
    base = block.arms[0]
    base_dirs = [str(d) for d in runs[base]]
    b_ids, b_vals = seed_averaged(base_dirs, block.tested)
    tests = []
    for arm in block.arms[1:]:
        dirs = [str(d) for d in runs[arm]]
        ids, vals = seed_averaged(dirs, block.tested)
        _, x, b = align_users((ids, vals), (b_ids, b_vals), dirs[0], base_dirs[0])
        tests.append(paired_test(x, b))
    t_adj = holm([t[3] for t in tests]) if tests else []
    w_adj = holm([t[4] for t in tests]) if tests else []
    users = len(b_ids)
    header = [
        "arm",
        *[f"test {m}" for m in block.metrics],
        f"Δ {block.tested} vs first (adj. p)",
        "epochs",
        "time/run (s)",
        "peak RSS (MB)",
    ]
    lines = [f"#### {block.title}", ""]
    if users:
        lines += [f"{users} test users.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, arm in enumerate(block.arms):
        rows = results[arm]
        metrics = [cell([r.get(f"test/{m}", math.nan) for r in rows]) for m in block.metrics]
        if i == 0:
            delta = "(baseline)"
        else:
            n, mean, _, _, _ = tests[i - 1]
            p = max(float(t_adj[i - 1]), float(w_adj[i - 1]))
            delta = f"{mean:+.4f} (p={p:.2g}{stars(p)}, n={n})"
        epochs = f"{np.mean([r.get('epochs_run', math.nan) for r in rows]):.0f}"
        wall = np.mean([r["wall_time_s"] for r in rows])
        rss = max(r.get("peak_rss_mb", math.nan) for r in rows)
        lines.append(
            "| "
            + " | ".join([arm.label, *metrics, delta, epochs, f"{wall:.0f}", f"{rss:.0f}"])
            + " |"
        )
    lines += ["", "Commands (`gnnrec-train` + the recipe's common overrides, `seed=<s>`):", ""]
    lines += [f"- {arm.label}: `{' '.join(arm.overrides)}`" for arm in block.arms]
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", default=None, help="run only blocks whose title contains this")
    args, extra = parser.parse_known_args(argv)
    make_blocks, common = RECIPES[args.recipe]
    out = ROOT / args.recipe
    blocks = [b for b in make_blocks() if args.only is None or args.only in b.title]
    text = [
        f"### {args.recipe}: tables of `python experiments/shops_and_behaviours.py "
        f"{args.recipe} --seeds {args.seeds}{' ' + ' '.join(extra) if extra else ''}`",
        "",
        f"Common overrides: `{' '.join(common)}`; seeds 0..{args.seeds - 1}. "
        "Δ: mean per-user difference to the first arm (per-user values averaged over "
        "seeds); p: the larger of the Holm-adjusted paired t-test and Wilcoxon p-values.",
        "",
    ]
    for block in blocks:
        runs = {
            arm: [run_arm(out, common, arm, seed, extra) for seed in range(args.seeds)]
            for arm in block.arms
        }
        text += block_table(block, runs)
        (out / "table.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
