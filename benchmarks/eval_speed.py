"""Full-ranking evaluation speed: gnnrec vs RecBole vs a reference loop vs bare matmul+top-k.

    python benchmarks/eval_speed.py                      # CPU, all four, ~10 min on 2 cores
    python benchmarks/eval_speed.py --device cuda        # GPU (RecBole on the GPU too)
    python benchmarks/eval_speed.py --skip-recbole --reference-users 0   # gnnrec vs bare only

On a synthetic Gowalla-sized dataset (30k users x 40k items, ~1M
interactions, 100 categories in 10 top-levels, 64-d embeddings; see
``eval_data.py``), every user with test items is evaluated at K=20:

(a) ``gnnrec``: ``Evaluator.evaluate`` with every metric (accuracy,
    cross-category incl. far, category accuracy, diversity incl. embedding
    ILD, calibration, popularity, per-category breakdown, user-group and
    item-bucket slices);
(b) ``reference``: ``tests/eval_reference.py``, the same metrics one user at
    a time with numpy and Python sets; timed on ``--reference-users`` users
    and extrapolated linearly (its one-off set-up is timed apart);
(c) ``recbole``: RecBole 1.2.1's ``Trainer.evaluate`` in full-sort mode on the
    same split and embeddings, in the peer environment
    (``benchmarks/peer/recbole_fullsort.py``; install with
    ``benchmarks/peer/setup_recbole.sh``), with its Recall, NDCG, Precision,
    Hit, MRR, MAP, ItemCoverage, AveragePopularity, GiniIndex and
    ShannonEntropy;
(d) ``bare``: the score matmul (into one preallocated block, as (a) does)
    and ``torch.topk`` per chunk, nothing else (no masking, no tie rule, no
    metric).

(a') is (a) restricted to what RecBole computes (accuracy, item coverage,
Gini, entropy, popularity: a copy of the dataset without categories, no
embedding ILD, no slices), for a like-for-like ratio.

(a), (a'), (c) and (d) use the same users per chunk (from ``--budget-mb``).
(a), (a') and (d) are repeated ``--repeats`` times, interleaved; the minimum is reported
(the machine may be shared) together with the median. Results go to
``benchmarks/results/eval_speed-<device>.json`` and are printed as a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "tests")]

import eval_reference  # noqa: E402
from eval_data import synthetic_embeddings, synthetic_split  # noqa: E402

from gnnrec.evaluation import EmbeddingScorer, Evaluator  # noqa: E402
from gnnrec.evaluation.ranking import bytes_per_user  # noqa: E402
from gnnrec.logging.run_info import cpu_name  # noqa: E402

K = 20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_bare(scorer: EmbeddingScorer, users: torch.Tensor, chunk: int, device) -> float:
    # The same preallocated score block as the evaluator uses, so that the floor is real.
    buffer = torch.empty(chunk, scorer.num_items, device=device)
    sync(device)
    t = time.perf_counter()
    for start in range(0, len(users), chunk):
        rows = users[start : start + chunk]
        torch.topk(scorer(rows, out=buffer[: len(rows)]), K, dim=1)
    sync(device)
    return time.perf_counter() - t


class WithoutEmbeddings:
    """The same scorer, but without item embeddings to offer (no embedding ILD)."""

    accepts_out = True

    def __init__(self, scorer: EmbeddingScorer) -> None:
        self.scorer = scorer

    def __call__(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return self.scorer(users, out=out)


def without_categories(split):
    """The split over a copy of its dataset without categories (accuracy and popularity only)."""
    ds = split.dataset
    plain = dataclasses.replace(
        ds,
        category_names=ds.category_names[:0],
        item_categories=sp.csr_matrix((ds.num_items, 0), dtype=np.float32),
        category_top_level=None,
    )
    return dataclasses.replace(split, dataset=plain)


def time_gnnrec(ev: Evaluator, scorer: EmbeddingScorer, device) -> tuple[float, dict]:
    sync(device)
    t = time.perf_counter()
    res = ev.evaluate(scorer, "test")
    sync(device)
    return time.perf_counter() - t, res.metrics


def time_reference(split, user_emb, item_emb, n_users: int) -> dict:
    def score(u: int) -> np.ndarray:
        return (user_emb[u] @ item_emb.T).astype(np.float64)

    kwargs = {"item_embeddings": item_emb.astype(np.float64), "slices": True}
    t = time.perf_counter()
    eval_reference.evaluate(split, score, "test", [K], max_users=0, **kwargs)
    setup = time.perf_counter() - t
    t = time.perf_counter()
    eval_reference.evaluate(split, score, "test", [K], max_users=n_users, **kwargs)
    loop = time.perf_counter() - t - setup
    total_users = int((np.diff(split.user_item_matrix("test").indptr) > 0).sum())
    return {
        "setup_s": setup,
        "timed_users": n_users,
        "per_user_ms": 1000 * loop / n_users,
        "extrapolated_s": setup + loop / n_users * total_users,
    }


def write_recbole_files(split, user_emb, item_emb, folder: Path) -> None:
    ds = split.dataset
    for part in ("train", "valid", "test"):
        idx = split.part(part)
        lines = ["user_id:token\titem_id:token"]
        lines += [f"{u}\t{i}" for u, i in zip(ds.users[idx], ds.items[idx], strict=True)]
        (folder / f"synth.{part}.inter").write_text("\n".join(lines) + "\n")
    items = "\n".join(str(i) for i in range(ds.num_items))
    (folder / "synth.item").write_text(f"item_id:token\n{items}\n")
    np.save(folder / "user_emb.npy", user_emb)
    np.save(folder / "item_emb.npy", item_emb)


def run_recbole(split, user_emb, item_emb, args, chunk: int) -> dict:
    peer = Path(args.peer_python)
    if not peer.exists():
        return {"skipped": f"no peer python at {peer} (benchmarks/peer/setup_recbole.sh)"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "synth"
        folder.mkdir()
        write_recbole_files(split, user_emb, item_emb, folder)
        out = Path(tmp) / "recbole.json"
        cmd = [str(peer), str(HERE / "peer" / "recbole_fullsort.py"), str(folder), str(out)]
        cmd += ["--device", args.device, "--users-per-batch", str(chunk)]
        cmd += ["--repeats", str(args.recbole_repeats), "--k", str(K)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            return {"failed": proc.stderr[-3000:]}
        return json.loads(out.read_text())


def machine(device: torch.device) -> dict:
    cpu = cpu_name()
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--users", type=int, default=30_000)
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument(
        "--budget-mb",
        type=float,
        default=None,
        help="default: 1024 on CPU (the evaluator default), 4096 on a GPU",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recbole-repeats", type=int, default=1)
    parser.add_argument("--reference-users", type=int, default=1000)
    parser.add_argument("--skip-recbole", action="store_true")
    parser.add_argument("--peer-python", default=str(REPO / ".peer-env" / "bin" / "python"))
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.budget_mb is None:
        args.budget_mb = 4096.0 if device.type == "cuda" else 1024.0
    started = time.perf_counter()
    load_before = os.getloadavg()

    t = time.perf_counter()
    split = synthetic_split(num_users=args.users, num_items=args.items)
    data_s = time.perf_counter() - t
    ds = split.dataset
    user_emb, item_emb = synthetic_embeddings(ds.num_users, ds.num_items)
    scorer = EmbeddingScorer(
        torch.from_numpy(user_emb).to(device), torch.from_numpy(item_emb).to(device)
    )
    t = time.perf_counter()
    ev = Evaluator(
        split, ks=[K], device=device, memory_budget_mb=args.budget_mb, slice_parts=["test"]
    )
    init_s = time.perf_counter() - t
    chunk = ev._chunk_size(emb_dim=item_emb.shape[1])
    users = torch.from_numpy(ev._truth["test"].users).to(device)
    print(f"{len(users)} users x {ds.num_items} items, chunk {chunk} users, {device}", flush=True)

    # (a') the metrics RecBole computes too (accuracy, coverage, Gini, entropy,
    # popularity): no categories, no embedding ILD, no slices; same chunk size.
    per_user = bytes_per_user(ds.num_items, K, 0, num_groups=6)
    plain = Evaluator(
        without_categories(split), ks=[K], device=device, memory_budget_mb=chunk * per_user / 2**20
    )
    assert plain.chunk_size == chunk, (plain.chunk_size, chunk)
    plain_scorer = WithoutEmbeddings(scorer)

    time_bare(scorer, users[:chunk], chunk, device)  # warm-up
    bare, ours, same, metrics, same_metrics = [], [], [], {}, {}
    for r in range(args.repeats):
        bare.append(time_bare(scorer, users, chunk, device))
        seconds, metrics = time_gnnrec(ev, scorer, device)
        ours.append(seconds)
        seconds, same_metrics = time_gnnrec(plain, plain_scorer, device)
        same.append(seconds)
        print(
            f"repeat {r + 1}: bare {bare[-1]:.2f}s, gnnrec {ours[-1]:.2f}s, "
            f"gnnrec (RecBole's metrics) {same[-1]:.2f}s",
            flush=True,
        )

    reference = None
    if args.reference_users > 0:
        print(f"reference on {args.reference_users} users ...", flush=True)
        reference = time_reference(split, user_emb, item_emb, args.reference_users)
    recbole = None
    if not args.skip_recbole:
        print("RecBole full-sort evaluation (peer env) ...", flush=True)
        recbole = run_recbole(split, user_emb, item_emb, args, chunk)

    best = {"gnnrec": min(ours), "bare": min(bare)}
    result = {
        "machine": machine(device),
        "device": str(device),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "dataset": {
            "users": ds.num_users,
            "items": ds.num_items,
            "categories": ds.num_categories,
            "interactions": ds.num_interactions,
            "evaluated_users": len(users),
            "build_s": data_s,
        },
        "k": K,
        "chunk_users": chunk,
        "budget_mb": args.budget_mb,
        "evaluator_init_s": init_s,
        "gnnrec_s": ours,
        "gnnrec_recbole_metrics_s": same,
        "gnnrec_recbole_metrics_count": len(same_metrics),
        "bare_s": bare,
        "gnnrec_metric_count": len(metrics),
        "gnnrec_metrics": {k: v for k, v in metrics.items() if "/" not in k[5:]},
        "reference": reference,
        "recbole": recbole,
        "ratios": {"gnnrec_over_bare": best["gnnrec"] / best["bare"]},
        "wall_s": None,
    }
    if reference:
        result["ratios"]["reference_over_gnnrec"] = reference["extrapolated_s"] / best["gnnrec"]
    if recbole and "evaluate_s" in recbole:
        result["ratios"]["recbole_over_gnnrec"] = min(recbole["evaluate_s"]) / best["gnnrec"]
        result["ratios"]["recbole_over_gnnrec_same_metrics"] = min(recbole["evaluate_s"]) / min(
            same
        )
    result["wall_s"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"eval_speed-{device.type}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=float) + "\n")
    os.replace(tmp, path)
    print(table(result))
    print(f"written to {path}")


def table(r: dict) -> str:
    rows = [
        "| variant | time (s) | vs gnnrec |",
        "|---|---:|---:|",
        f"| bare matmul + top-k | {min(r['bare_s']):.2f} | "
        f"{min(r['bare_s']) / min(r['gnnrec_s']):.2f}x |",
        f"| **gnnrec, all {r['gnnrec_metric_count']} metrics** | {min(r['gnnrec_s']):.2f} "
        f"(median {statistics.median(r['gnnrec_s']):.2f}) | 1x |",
    ]
    t_same = min(r["gnnrec_recbole_metrics_s"])
    rows.append(
        f"| gnnrec, RecBole's metrics only ({r['gnnrec_recbole_metrics_count']} keys) | "
        f"{t_same:.2f} | {t_same / min(r['gnnrec_s']):.2f}x |"
    )
    rec = r.get("recbole") or {}
    if "evaluate_s" in rec:
        t = min(rec["evaluate_s"])
        rows.append(
            f"| RecBole 1.2.1 full-sort, 10 metrics | {t:.2f} | {t / min(r['gnnrec_s']):.1f}x "
            f"({t / t_same:.1f}x the same-metrics run) |"
        )
    elif rec:
        rows.append(f"| RecBole | {next(iter(rec.values()))[:60]!r} | |")
    ref = r.get("reference")
    if ref:
        t = ref["extrapolated_s"]
        rows.append(
            f"| reference loop (numpy, {ref['timed_users']} users extrapolated) | {t:.1f} | "
            f"{t / min(r['gnnrec_s']):.1f}x |"
        )
    head = (
        f"{r['dataset']['evaluated_users']} users x {r['dataset']['items']} items, K={r['k']}, "
        f"{r['device']} ({r['machine']['cpu']}, {r['machine']['torch_threads']} threads), "
        f"chunk {r['chunk_users']} users, load avg {r['load_average_before'][0]:.1f}"
    )
    return head + "\n\n" + "\n".join(rows)


if __name__ == "__main__":
    main()
