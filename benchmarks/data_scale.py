"""Data-layer scale: load, filter, split and cache a synthetic log of 1M-10M interactions.

    python benchmarks/data_scale.py                      # 1M, 2M, 5M, 10M
    python benchmarks/data_scale.py --sizes 1000000 --keep-data /tmp/syn

For each size the synthetic log (gnnrec.data.synthetic: Zipf item popularity,
Pareto user activity, a 3-level category hierarchy) is written to a temporary
folder (never committed), then each phase runs in a fresh Python process so
that its peak resident memory (ru_maxrss) is its own:

- ``read``: load_dataset without filters (read, index, dedup, categories + hierarchy);
- ``pipeline``: load_dataset with min_rating and k-core, then every split
  method (temporal, random, leave-one-out, global temporal) and its leakage check;
- ``cache_cold``: load_cached on an empty cache (hash raw files, build, write);
- ``cache_warm``: load_cached again in a new process (the second run of a user).

Results: benchmarks/results/data_scale.json and data_scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def phase(name: str, folder: str, cache_dir: str, min_rating: float, kcore: int) -> dict:
    """Run one phase in this process and return its timings and peak RSS."""
    from gnnrec.data.cache import load_cached
    from gnnrec.data.load import load_dataset
    from gnnrec.data.split import (
        global_temporal_split,
        leave_one_out_split,
        random_split,
        temporal_split,
    )
    from gnnrec.data.synthetic import synthetic_config

    out: dict = {}
    filters = {"min_rating": min_rating, "kcore": kcore or None}
    if name == "read":
        started = time.perf_counter()
        ds = load_dataset(**synthetic_config(folder))
        out["seconds"] = time.perf_counter() - started
    elif name == "pipeline":
        started = time.perf_counter()
        ds = load_dataset(**synthetic_config(folder, **filters))
        out["seconds"] = time.perf_counter() - started
        for split in (temporal_split, random_split, leave_one_out_split, global_temporal_split):
            started = time.perf_counter()
            result = split(ds)
            out[f"split_{split.__name__}_s"] = time.perf_counter() - started
            out[f"split_{split.__name__}_counts"] = result.counts()
        out["preprocessing"] = ds.preprocessing_log
    else:
        started = time.perf_counter()
        ds = load_cached(cache_dir=cache_dir, **synthetic_config(folder, **filters))
        out["seconds"] = time.perf_counter() - started
    out["interactions"] = ds.num_interactions
    out["users"] = ds.num_users
    out["items"] = ds.num_items
    out["categories"] = ds.num_categories
    out["peak_rss_mb"] = _peak_mb()
    return out


def run_size(size: int, folder: Path, seed: int, min_rating: float, kcore: int) -> dict:
    from gnnrec.data.synthetic import write_synthetic_log

    started = time.perf_counter()
    paths = write_synthetic_log(folder, size, seed=seed)
    row: dict = {
        "rows": size,
        "generate_s": time.perf_counter() - started,
        "log_mb": paths["interactions.csv"].stat().st_size / 2**20,
    }
    with tempfile.TemporaryDirectory() as cache_dir:
        for name in ("read", "pipeline", "cache_cold", "cache_warm"):
            cmd = [
                sys.executable,
                __file__,
                "--phase",
                name,
                str(folder),
                cache_dir,
                str(min_rating),
                str(kcore),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                raise RuntimeError(f"phase {name} failed:\n{done.stderr[-3000:]}")
            row[name] = json.loads(done.stdout.splitlines()[-1])
            facts = row[name]
            print(f"  {name:<11} {facts['seconds']:7.2f} s  peak {facts['peak_rss_mb']:7.0f} MB")
    return row


def markdown(report: dict) -> str:
    lines = [
        "# Data-layer scale (synthetic log)",
        "",
        f"Machine: {report['machine']}; {report['cpus']} CPUs. Filters: rating >= "
        f"{report['min_rating']}, {report['kcore']}-core. Each phase is a fresh process; "
        "peak = its maximum resident memory. Splits include their leakage check. "
        "Timings on a shared 2-core machine vary by up to 2x between runs.",
        "",
        "| rows | log MB | read s | read peak MB | load+filter s | splits s (temporal / random "
        "/ loo / global) | pipeline peak MB | kept interactions | cache cold s | cache warm s "
        "| warm peak MB |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        p = r["pipeline"]
        splits = " / ".join(
            f"{p[f'split_{n}_s']:.2f}"
            for n in (
                "temporal_split",
                "random_split",
                "leave_one_out_split",
                "global_temporal_split",
            )
        )
        lines.append(
            f"| {r['rows']:,} | {r['log_mb']:.0f} | {r['read']['seconds']:.2f} | "
            f"{r['read']['peak_rss_mb']:.0f} | {p['seconds']:.2f} | {splits} | "
            f"{p['peak_rss_mb']:.0f} | {p['interactions']:,} | {r['cache_cold']['seconds']:.2f} | "
            f"{r['cache_warm']['seconds']:.2f} | {r['cache_warm']['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        name, folder, cache_dir, min_rating, kcore = sys.argv[2:7]
        print(json.dumps(phase(name, folder, cache_dir, float(min_rating), int(kcore))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000_000, 2_000_000, 5_000_000, 10_000_000]
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--min-rating", type=float, default=3.0)
    parser.add_argument("--kcore", type=int, default=5, help="0 disables k-core filtering")
    parser.add_argument("--keep-data", type=Path, default=None, help="write the logs here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    report = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "seed": args.seed,
        "min_rating": args.min_rating,
        "kcore": args.kcore,
        "sizes": [],
    }
    for size in args.sizes:
        print(f"{size:,} interactions", flush=True)
        if args.keep_data:
            folder = args.keep_data / f"syn-{size}"
            report["sizes"].append(run_size(size, folder, args.seed, args.min_rating, args.kcore))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                report["sizes"].append(
                    run_size(size, Path(tmp), args.seed, args.min_rating, args.kcore)
                )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "data_scale.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
