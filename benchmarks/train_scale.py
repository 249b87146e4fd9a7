"""Training at scale: LightGCN on synthetic logs of 1M-10M interactions, and its growth law.

    python benchmarks/train_scale.py                           # 1M, 3M, 10M
    python benchmarks/train_scale.py --sizes 1e6 --steps 3     # one size, a quick look
    python benchmarks/train_scale.py --sizes 1e6 3e6 --full-epoch

For each size the synthetic log (gnnrec.data.synthetic: Zipf item popularity,
Pareto user activity, 240 leaf categories; users = items = interactions / 20)
is written to a temporary folder by this process, then everything else runs in
a fresh Python process of this script, so that its peak resident memory
(``ru_maxrss``, the high-water mark) belongs to that size alone:

1. data: ``load_dataset`` (read, index, drop repeated pairs, categories) and the
   per-user temporal split 80/10/10 (``--split random``: the seeded per-user
   random split) — "data build";
2. graph: ``build_graph`` (the symmetric-normalised user-item CSR adjacency);
3. model: ``LightGCN.from_graph`` (``--layers`` 3, ``--dim`` 64), BPR loss, one
   uniform negative per positive (``UniformSampler``), Adam (``--lr`` 0.02);
4. training: the trainer's step (``Trainer.step_terms``, backward, Adam step)
   on batches of ``--batch-size`` (16384) positives from a random permutation
   of the training pairs; ``--warmup`` untimed steps, then the median of
   ``--steps`` timed steps. The epoch time is ``steps_per_epoch x median``,
   labelled ``extrapolated``, or, with ``--full-epoch``, one whole epoch
   timed (``measured``);
5. evaluation: ``Evaluator`` construction, then one full-ranking pass over
   the test users (propagation for the scorer included), K = 10, 20.

Growth law: least-squares slopes of log(epoch time), log(step time) and
log(peak memory) against log(interactions kept), i.e. the exponents ``a`` of
``y ~ n^a``. Each step propagates the whole graph (cost ~ n) and an epoch has
n / batch steps, so full-graph training is expected near ``a = 2`` for the
epoch and ``a = 1`` for the step. Peak memory includes the ~0.4 GB of the
imported libraries; its exponent is also fitted above that baseline.

On a machine shared with other jobs, ``--threads 1`` gives steadier timings:
with more busy threads than cores, torch's worker threads wait on each other
and a 2-thread step can vary tenfold from one step to the next.

Results: ``--out``/train_scale.json and train_scale.md (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gnnrec.logging.run_info import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
SPLITS = ("temporal", "random")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_one(folder: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every phase for the log in ``folder``, in this process; timings and peaks."""
    import torch

    from gnnrec.data.load import load_dataset
    from gnnrec.data.split import random_split, temporal_split
    from gnnrec.data.synthetic import synthetic_config
    from gnnrec.evaluation.evaluator import Evaluator
    from gnnrec.graph.build import build_graph
    from gnnrec.losses import BPRLoss
    from gnnrec.models.lightgcn import LightGCN
    from gnnrec.sampling.base import TrainingPairs
    from gnnrec.sampling.uniform import UniformSampler
    from gnnrec.train.loop import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out: dict[str, Any] = {"threads": torch.get_num_threads(), "import_peak_mb": _peak_mb()}

    started = time.perf_counter()
    ds = load_dataset(**synthetic_config(folder))
    out["load_s"] = time.perf_counter() - started
    started = time.perf_counter()
    split = random_split(ds, seed=args.seed) if args.split == "random" else temporal_split(ds)
    out["split_s"] = time.perf_counter() - started
    out["data_build_s"] = out["load_s"] + out["split_s"]
    out["split"] = split.method
    out.update(
        interactions=ds.num_interactions,
        users=ds.num_users,
        items=ds.num_items,
        categories=ds.num_categories,
        train=len(split.train),
        test=len(split.test),
        data_peak_mb=_peak_mb(),
    )

    started = time.perf_counter()
    graph = build_graph(split)
    out["graph_s"] = time.perf_counter() - started
    model = LightGCN.from_graph(graph, embedding_dim=args.dim, num_layers=args.layers)
    out["nonzeros"] = int(model.adjacency.values().numel())
    out["graph_peak_mb"] = _peak_mb()

    pairs = TrainingPairs.from_split(split)
    sampler = UniformSampler(pairs)
    loss = BPRLoss()
    trainer = Trainer(batch_size=args.batch_size, lr=args.lr, progress=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    n = len(pairs.users)
    steps_per_epoch = math.ceil(n / args.batch_size)
    out["steps_per_epoch"] = steps_per_epoch

    def step(perm: torch.Tensor, s: int) -> None:
        # the body of Trainer.fit's step loop
        idx = perm[s * args.batch_size : (s + 1) * args.batch_size]
        users, pos = pairs.users[idx], pairs.items[idx]
        terms = trainer.step_terms(model, loss, sampler, users, pos, generator)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()

    model.train()
    model.start_epoch(generator)
    perm = torch.randperm(n, generator=generator)
    times = []
    for s in range(args.warmup + args.steps):
        started = time.perf_counter()
        step(perm, s % steps_per_epoch)
        if s >= args.warmup:
            times.append(time.perf_counter() - started)
    out["step_times_s"] = times
    out["step_s"] = statistics.median(times)
    if args.full_epoch:
        started = time.perf_counter()
        model.start_epoch(generator)
        perm = torch.randperm(n, generator=generator)
        for s in range(steps_per_epoch):
            step(perm, s)
        out["epoch_s"] = time.perf_counter() - started
        out["epoch_kind"] = "measured"
    else:
        out["epoch_s"] = steps_per_epoch * out["step_s"]
        out["epoch_kind"] = "extrapolated"
    out["train_peak_mb"] = _peak_mb()

    if not args.skip_eval:
        started = time.perf_counter()
        evaluator = Evaluator(split, ks=(10, 20), memory_budget_mb=args.eval_budget_mb)
        out["eval_setup_s"] = time.perf_counter() - started
        model.eval()
        started = time.perf_counter()
        with torch.no_grad():
            result = evaluator.evaluate(model.scorer(), "test")
        out["eval_s"] = time.perf_counter() - started
        out["eval_users"] = len(result.users)
        out["eval_chunk_users"] = evaluator.chunk_size
    out["peak_rss_mb"] = _peak_mb()
    out["load_average"] = os.getloadavg()[0]  # other jobs on the machine slow every timing
    return out


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Write the log of ``size`` rows, then run every phase in a fresh process."""
    from gnnrec.data.synthetic import write_synthetic_log

    with tempfile.TemporaryDirectory(prefix="gnnrec-train-scale-") as folder:
        started = time.perf_counter()
        write_synthetic_log(folder, size, seed=args.seed)
        row: dict[str, Any] = {"rows": size, "generate_s": time.perf_counter() - started}
        cmd = [sys.executable, __file__, "--child", folder, *args.passthrough]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"size {size:,} failed:\n{done.stderr[-3000:]}")
        row.update(json.loads(done.stdout.splitlines()[-1]))
    return row


def slope(x: list[float], y: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x): the exponent a of y ~ x^a."""
    if len(x) < 2 or len(set(x)) < 2 or min(y) <= 0:
        return None
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def growth_law(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    n = [float(r["interactions"]) for r in rows]
    law = {
        "epoch_s": slope(n, [r["epoch_s"] for r in rows]),
        "step_s": slope(n, [r["step_s"] for r in rows]),
        "peak_rss_mb": slope(n, [r["peak_rss_mb"] for r in rows]),
        "peak_above_import_mb": slope(n, [r["peak_rss_mb"] - r["import_peak_mb"] for r in rows]),
    }
    if all("eval_s" in r for r in rows):
        law["eval_s"] = slope(n, [r["eval_s"] for r in rows])
    return law


def _exponent(value: float | None) -> str:
    return "n/a (one size)" if value is None else f"{value:.2f}"


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        "# Training at scale (LightGCN, synthetic log)",
        "",
        f"Machine: {report['cpu']}, {report['cores']} cores, torch {report['torch']}, "
        f"{report['sizes'][0]['threads'] if report['sizes'] else '?'} threads. "
        f"LightGCN {s['layers']} layers, {s['dim']}-d, BPR, 1 uniform negative, Adam "
        f"lr {s['lr']}, batch {s['batch_size']:,}; split: {report['split']}. Step: median of "
        f"{s['steps']} timed steps after {s['warmup']} warm-up. Epoch: steps/epoch x step "
        "(extrapolated) or one timed epoch (measured). Eval: one full-ranking pass over the "
        "test users (K = 10, 20, every metric), scorer propagation included. Peak: the size's "
        "own process (ru_maxrss), imports included. Load: the 1-minute load average when "
        "the size finished (above the core count, other jobs slowed the timings).",
        "",
        "| rows | interactions | users | items | adjacency nnz | data build s | graph s "
        "| step s | steps/epoch | epoch s | eval s (users) | peak RSS MB | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        evaluation = f"{r['eval_s']:.1f} ({r['eval_users']:,})" if "eval_s" in r else "-"
        lines.append(
            f"| {r['rows']:,} | {r['interactions']:,} | {r['users']:,} | {r['items']:,} | "
            f"{r['nonzeros']:,} | {r['data_build_s']:.2f} | {r['graph_s']:.2f} | "
            f"{r['step_s']:.3f} | {r['steps_per_epoch']:,} | {r['epoch_s']:.1f} "
            f"({r['epoch_kind']}) | {evaluation} | {r['peak_rss_mb']:.0f} | "
            f"{r['load_average']:.1f} |"
        )
    law = report["growth_law"]
    lines += [
        "",
        "Growth law (least-squares slope of log y on log interactions, y ~ n^a):",
        "",
        f"- epoch time: a = {_exponent(law['epoch_s'])} "
        "(full-graph propagation every step: 2 expected at a fixed batch size);",
        f"- step time: a = {_exponent(law['step_s'])};",
        f"- peak memory: a = {_exponent(law['peak_rss_mb'])} "
        f"(above the import baseline: {_exponent(law['peak_above_import_mb'])})",
    ]
    if "eval_s" in law:
        lines[-1] += ";"
        lines.append(f"- evaluation pass: a = {_exponent(law['eval_s'])}.")
    else:
        lines[-1] += "."
    return "\n".join(lines) + "\n"


def parse_size(text: str) -> int:
    value = float(text)
    if not value.is_integer() or value < 1000:
        raise argparse.ArgumentTypeError(f"a size is a whole number >= 1000, got {text}")
    return int(value)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=parse_size, nargs="+", default=[1_000_000, 3_000_000, 10**7])
    p.add_argument("--split", choices=SPLITS, default="temporal")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16384)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before them")
    p.add_argument("--full-epoch", action="store_true", help="time one whole epoch too")
    p.add_argument("--skip-eval", action="store_true", help="no evaluation pass")
    p.add_argument("--eval-budget-mb", type=float, default=1024.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    return p


PASSTHROUGH = (
    "split", "dim", "layers", "batch_size", "lr", "steps", "warmup", "full_epoch",
    "skip_eval", "eval_budget_mb", "threads", "seed",
)  # fmt: skip
"""Options the per-size process receives as given."""


def _passthrough(args: argparse.Namespace) -> list[str]:
    argv = []
    for name in PASSTHROUGH:
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        else:
            argv += [flag, str(value)]
    return argv


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        folder = sys.argv[2]
        args = parser().parse_args(sys.argv[3:])
        print(json.dumps(run_one(folder, args)))
        return
    args = parser().parse_args()
    for name in ("dim", "layers", "batch_size", "steps"):
        if getattr(args, name) < 1:
            parser().error(f"--{name.replace('_', '-')} must be >= 1")
    args.passthrough = _passthrough(args)

    import torch

    report: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "split": "per-user temporal 80/10/10"
        if args.split == "temporal"
        else f"per-user random 80/10/10 (seed {args.seed})",
        "settings": {name: getattr(args, name) for name in PASSTHROUGH},
        "sizes": [],
    }
    for size in args.sizes:
        print(f"{size:,} interactions", flush=True)
        row = run_size(size, args)
        report["sizes"].append(row)
        print(
            f"  data {row['data_build_s']:.1f} s, graph {row['graph_s']:.1f} s, "
            f"step {row['step_s']:.3f} s, epoch {row['epoch_s']:.1f} s ({row['epoch_kind']}), "
            + (f"eval {row['eval_s']:.1f} s, " if "eval_s" in row else "")
            + f"peak {row['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    report["growth_law"] = growth_law(report["sizes"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "train_scale.md").write_text(markdown(report))
    print(markdown(report))
    print(f"written: {args.out / 'train_scale.json'}, {args.out / 'train_scale.md'}")


if __name__ == "__main__":
    main()
