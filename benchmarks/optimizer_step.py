"""Adam's step on the CPU: the per-op implementation against the fused kernel
the trainer uses, for speed and for run-to-run reproducibility.

    python benchmarks/optimizer_step.py               # ml-100k and Gowalla-sized tables
    python benchmarks/optimizer_step.py --repeats 100

(a) speed: one Adam step over an embedding table (ml-100k's 2,389 x 64 and
    Gowalla's 70,839 x 64 nodes; LightGCN's only parameter) with a fixed
    gradient, minimum and median over ``--repeats`` steps, per-op
    (``fused=False``, torch's default on CPU) and fused, one after another
    in the same process; ratio per-op / fused;
    The divergence check's gradient norm, taken before every step
    (:func:`gnnrec.train.divergence.gradient_norm`), is timed on the same
    table, as its cost on the training step's hot path;
(b) reproducibility: ``--processes`` fresh processes each take the first step
    on the same seeded table and gradient and print a hash of the result;
    the number of distinct hashes per variant is reported (1 = every process
    agrees). A bare process like these agreed with itself on the project's VM
    for both variants; the per-op path's disagreement showed only inside
    ``gnnrec-train`` runs (about 1 in 3 differed after the first step; with the
    fused step 8 of 8 agreed: ``docs/run_directories.md``).

Results: ``benchmarks/results/optimizer_step.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from gnnrec.logging.run_info import cpu_name
from gnnrec.train.divergence import gradient_norm

RESULTS = Path(__file__).resolve().parent / "results" / "optimizer_step.json"
SIZES = {"ml-100k": 2_389, "gowalla": 70_839}


def one_step_hash(rows: int, fused: bool) -> str:
    """A hash of the table after one Adam step (seeded table and gradient)."""
    g = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.randn(rows, 64, generator=g) * 0.1)
    p.grad = torch.randn(rows, 64, generator=g) * 1e-4
    torch.optim.Adam([p], lr=5e-3, fused=fused).step()
    return hashlib.sha256(p.detach().numpy().tobytes()).hexdigest()[:12]


def step_times(rows: int, fused: bool, repeats: int) -> list[float]:
    p = torch.nn.Parameter(torch.randn(rows, 64) * 0.1)
    p.grad = torch.randn_like(p) * 1e-4
    opt = torch.optim.Adam([p], lr=5e-3, fused=fused)
    for _ in range(5):
        opt.step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def norm_times(rows: int, repeats: int) -> list[float]:
    p = torch.nn.Parameter(torch.randn(rows, 64) * 0.1)
    p.grad = torch.randn_like(p) * 1e-4
    gradient_norm([p])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        gradient_norm([p])
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--hash", nargs=2, metavar=("ROWS", "FUSED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hash:  # one process of part (b)
        print(one_step_hash(int(args.hash[0]), args.hash[1] == "1"))
        return
    report: dict = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "speed": {},
        "reproducibility": {},
    }
    for name, rows in SIZES.items():
        row = {}
        for fused in (False, True):
            times = step_times(rows, fused, args.repeats)
            row["fused" if fused else "per_op"] = {
                "min_ms": 1e3 * min(times),
                "median_ms": 1e3 * statistics.median(times),
            }
        row["ratio_per_op_over_fused"] = row["per_op"]["min_ms"] / row["fused"]["min_ms"]
        row["grad_norm_min_ms"] = 1e3 * min(norm_times(rows, args.repeats))
        report["speed"][name] = row
        per_op, fused_ms = row["per_op"]["min_ms"], row["fused"]["min_ms"]
        print(
            f"{name}: per-op {per_op:.2f} ms, fused {fused_ms:.2f} ms, "
            f"{per_op / fused_ms:.1f}x; gradient norm {row['grad_norm_min_ms']:.2f} ms"
        )
    rows = SIZES["gowalla"]
    for fused in (False, True):
        hashes = [
            subprocess.run(
                [sys.executable, __file__, "--hash", str(rows), str(int(fused))],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ,
            ).stdout.strip()
            for _ in range(args.processes)
        ]
        key = "fused" if fused else "per_op"
        report["reproducibility"][key] = {"processes": len(hashes), "distinct": len(set(hashes))}
        print(f"{key}: {len(set(hashes))} distinct result(s) over {len(hashes)} processes")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
