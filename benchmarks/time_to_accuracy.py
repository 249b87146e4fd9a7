"""Time to accuracy: LightGCN trained by gnnrec, PyTorch Geometric and RecBole on one split.

    python benchmarks/time_to_accuracy.py --dataset ml-100k
    python benchmarks/time_to_accuracy.py --dataset amazon-beauty
    python benchmarks/time_to_accuracy.py --dataset gowalla            # 1200 s per tool
    python benchmarks/time_to_accuracy.py --dataset ml-100k --only gnnrec,pyg --max-epochs 2

LightGCN with 3 layers and 64-d embeddings is trained three ways, each in its
own process, one after another, on the CPU, on the same split:

- ``gnnrec``: ``gnnrec-train`` with the overrides in :data:`OVERRIDES`
  (plus ``logger=none train.progress=false device=cpu``); per epoch its run
  directory's ``metrics.jsonl``, at the end its ``results.json``;
- ``pyg``: ``torch_geometric.nn.models.LightGCN`` trained as PyG's
  ``examples/lightgcn.py`` trains it (``peer/pyg_lightgcn.py``; batch size and
  what differs from the example are in its docstring), validated every epoch
  with gnnrec's ``Evaluator``;
- ``recbole``: RecBole 1.2.1's LightGCN with its defaults
  (``peer/recbole_train.py``, run by the peer environment's Python, made by
  ``peer/setup_recbole.sh``) on the split exported by
  ``gnnrec-data export --format recbole``.

The split: ``gnnrec-data export`` with the dataset's ``data`` overrides writes
the RecBole files (and warms gnnrec's dataset cache, so no tool pays a cold
build); ``gnnrec-train`` and the PyG script compose the same ``dataset`` and
``split`` overrides with gnnrec's loader. The per-part interaction counts
every tool reports are compared (``split_check``).

The clock of every tool starts when this script launches its process
(``time.time()`` just before ``Popen``): interpreter start, imports, data
loading, graph and model building count. A validation result's time is:

- gnnrec: ``train/elapsed_s`` of its ``metrics.jsonl`` row (seconds since
  training started, evaluation included) plus the start offset, the smallest
  (row arrival - ``train/elapsed_s``) over its rows, arrivals polled every
  ``--poll`` seconds. Without ``train/elapsed_s`` (older gnnrec) the row's
  arrival time itself (said in the notes);
- pyg, recbole: the ``time.time()`` the child writes into the row, right
  after the validation (RecBole: after its early-stopping step and the
  checkpoint of an improved epoch), minus the launch time.

Peak memory is the child's ``ru_maxrss`` from ``os.wait4`` (the process
alone; the peers also report their own, kept in the JSON). With a time
limit gnnrec is stopped (SIGTERM) at the limit and, having no
``results.json`` then, is tested from the best weights in its last
``checkpoint.pt`` (written every ``train.checkpoint_every`` epochs); the
peers stop themselves at the first mini-batch or validation after the
limit (a validation that ends after it does not count) and test their best
validation epoch; a peer still running at 1.5 x limit + 300 s is killed.

Results: ``<out>/time_to_accuracy-<dataset>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from gnnrec.logging.run_info import cpu_name

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Per dataset: `data` overrides make the split (gnnrec-data export, gnnrec-train
# and the PyG script get them), `gnnrec` ones go to gnnrec-train only (and to
# the PyG script's config, which reads only dataset, split, seed and eval).
OVERRIDES: dict[str, dict[str, list[str]]] = {
    "ml-100k": {"data": [], "gnnrec": []},
    "amazon-beauty": {"data": ["dataset=amazon-beauty"], "gnnrec": []},
    "gowalla": {
        "data": ["dataset=gowalla-shared", "split.valid_from_train=0.1"],
        # Gowalla's training settings (conf/experiment/gowalla_lightgcn.yaml)
        "gnnrec": ["experiment=gowalla_lightgcn"],
    },
}
GNNREC_RUNNER = ["logger=none", "train.progress=false", "device=cpu"]
DEFAULT_TIME_LIMIT: dict[str, float | None] = {
    "ml-100k": None,
    "amazon-beauty": None,
    "gowalla": 1200.0,
}
TOOLS = ("gnnrec", "pyg", "recbole")
LABELS = {"gnnrec": "gnnrec", "pyg": "PyG", "recbole": "RecBole 1.2.1"}
MONITOR = "valid/recall@20"
TARGET_SHARE = 0.95
RECBOLE_NAME = "tta"


# --------------------------------------------------------------------------- time to accuracy


def time_to_reach(points: Sequence[tuple[float, float]], target: float) -> int | None:
    """Index of the first ``(seconds, value)`` point whose value reaches ``target``
    (``value >= target``); None when none does. Points are in time order."""
    for i, (_, value) in enumerate(points):
        if value is not None and math.isfinite(value) and value >= target:
            return i
    return None


def summarise(
    curves: dict[str, list[tuple[float, float]]], share: float = TARGET_SHARE
) -> dict[str, Any]:
    """Time to ``share`` of the best validation value reached by any tool.

    ``curves`` maps a tool to its ``(seconds since launch, valid value)``
    points in time order. Returns the target, per tool the time and index of
    the first point reaching it (None if never), and the ratios
    ``peer time / gnnrec time`` (above 1: gnnrec got there faster) with the
    better peer (the one that got there first).
    """
    best = {t: max((v for _, v in c if v is not None), default=None) for t, c in curves.items()}
    reached_best = [v for v in best.values() if v is not None]
    if not reached_best:
        return {"best_any": None, "target": None, "tools": {}, "ratios": {}, "better_peer": None}
    best_any = max(reached_best)
    target = share * best_any
    tools: dict[str, Any] = {}
    for tool, curve in curves.items():
        i = time_to_reach(curve, target)
        tools[tool] = {
            "best": best[tool],
            "seconds": curve[i][0] if i is not None else None,
            "index": i,
        }
    ours = tools.get("gnnrec", {}).get("seconds")
    ratios = {
        peer: (info["seconds"] / ours if ours and info["seconds"] is not None else None)
        for peer, info in tools.items()
        if peer != "gnnrec"
    }
    reached = {
        p: i["seconds"] for p, i in tools.items() if p != "gnnrec" and i["seconds"] is not None
    }
    better = min(reached, key=lambda p: reached[p]) if reached else None
    return {
        "share": share,
        "best_any": best_any,
        "target": target,
        "tools": tools,
        "ratios": ratios,
        "better_peer": better,
    }


# --------------------------------------------------------------------------- child processes


@dataclass
class Child:
    """A finished child process: exit status, peak memory, and when its watched
    file's lines appeared (seconds since launch)."""

    returncode: int
    launched: float
    seconds: float
    maxrss_mb: float
    killed: bool = False
    arrivals: list[float] = field(default_factory=list)


def _count_lines(path: Path | None) -> int:
    if path is None or not path.is_file():
        return 0
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.endswith(b"\n"))


def run_child(
    cmd: list[str],
    log_path: Path,
    *,
    launched: float,
    cwd: Path,
    env: dict[str, str] | None = None,
    kill_after: float | None = None,
    watch: Path | None = None,
    poll: float = 0.05,
) -> Child:
    """Run ``cmd`` (stdout and stderr to ``log_path``), SIGTERM it ``kill_after``
    seconds after ``launched``, note when lines appear in ``watch``, and reap it
    with ``os.wait4`` for its own ``ru_maxrss``."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        arrivals: list[float] = []
        killed = False
        size = -1
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.time()
            if watch is not None and watch.is_file() and watch.stat().st_size != size:
                size = watch.stat().st_size
                arrivals += [now - launched] * (_count_lines(watch) - len(arrivals))
            if kill_after is not None and now - launched > kill_after and not killed:
                proc.send_signal(signal.SIGTERM)
                killed = True
            time.sleep(poll)
    ended = time.time() - launched
    arrivals += [ended] * (_count_lines(watch) - len(arrivals))
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Child(proc.returncode, launched, ended, usage.ru_maxrss / 1024, killed, arrivals)


def _log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.is_file() else ""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(kept) if kept else None


# --------------------------------------------------------------------------- the three tools


def export_split(data_overrides: list[str], folder: Path, log_path: Path) -> Path:
    """Write the split as RecBole benchmark files named ``tta.*`` under
    ``folder/tta``; returns RecBole's ``data_path`` (``folder``)."""
    raw = folder / "export"
    cmd = [_console("gnnrec-data"), "export", "--format", "recbole", "--out", str(raw)]
    proc = subprocess.run(
        [*cmd, *data_overrides], capture_output=True, text=True, cwd=REPO, check=False
    )
    log_path.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"gnnrec-data export failed:\n{proc.stderr[-3000:]}")
    target = folder / RECBOLE_NAME
    target.mkdir(parents=True)
    name = next(raw.glob("*.train.inter")).name[: -len(".train.inter")]
    for path in raw.iterdir():
        path.rename(target / (RECBOLE_NAME + path.name[len(name) :]))
    raw.rmdir()
    return folder


def _console(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def gnnrec_command(dataset: str, run_dir: Path, args: argparse.Namespace) -> list[str]:
    over = OVERRIDES[dataset]
    cmd = [_console("gnnrec-train"), *over["data"], *GNNREC_RUNNER, *over["gnnrec"]]
    cmd += list(args.gnnrec_override)
    if args.max_epochs:
        cmd.append(f"train.epochs={args.max_epochs}")
    return [*cmd, f"hydra.run.dir={run_dir}"]


def run_gnnrec(dataset: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    run_dir = work / "gnnrec-run"
    cmd = gnnrec_command(dataset, run_dir, args)
    limit = args.time_limit
    launched = time.time()
    child = run_child(
        cmd,
        work / "gnnrec.log",
        launched=launched,
        cwd=REPO,
        kill_after=limit,
        watch=run_dir / "metrics.jsonl",
        poll=args.poll,
    )
    rows = _read_jsonl(run_dir / "metrics.jsonl")
    notes: list[str] = []
    elapsed = [r.get("train/elapsed_s") for r in rows]
    arrivals = child.arrivals[: len(rows)]
    if rows and all(e is not None for e in elapsed):
        offset = min(a - e for a, e in zip(arrivals, elapsed, strict=True))
        times = [offset + e for e in elapsed]
        clock = (
            "launch to training start (min over epochs of row arrival - train/elapsed_s, "
            f"polled every {args.poll} s) + train/elapsed_s"
        )
        with_eval: list[float | None] = [b - a for a, b in pairwise([0.0, *elapsed])]
        setup = offset
    else:
        times = list(arrivals)
        clock = f"arrival of the metrics.jsonl row (polled every {args.poll} s)"
        if rows:
            notes.append("metrics.jsonl has no train/elapsed_s: times are row arrivals")
        with_eval = [None, *(b - a for a, b in pairwise(times))][: len(times)]
        setup = None
    curve = [
        {
            "epoch": int(r["epoch"]),
            "seconds": t,
            "train_s": r.get("train/epoch_time_s"),
            "epoch_s": w,
            "loss": r.get("train/loss"),
            MONITOR: r.get(MONITOR),
        }
        for r, t, w in zip(rows, times, with_eval, strict=True)
    ]
    results_path = run_dir / "results.json"
    cut_off = child.killed
    settings = gnnrec_settings(run_dir / "config.yaml")
    if settings.get("monitor_users"):
        notes.append(
            f"validated during training on {settings['monitor_users']} sampled users "
            "(eval.monitor_users), the peers on every validation user"
        )
    out: dict[str, Any] = {
        "command": cmd,
        "returncode": child.returncode,
        "process_s": child.seconds,
        "cut_off": cut_off,
        "peak_rss_mb": child.maxrss_mb,
        "setup_s": setup,
        "clock": clock,
        "curve": curve,
        "settings": settings,
        "notes": notes,
    }
    if results_path.is_file():
        res = json.loads(results_path.read_text())
        out.update(
            epochs_run=res["epochs_run"],
            best_epoch=res["best_epoch"],
            test_recall=res.get("test/recall@20"),
            test_source="results.json (best validation epoch)",
            results={
                k: res.get(k)
                for k in ("wall_time_s", "train_time_s", "setup_time_s", "best_epoch", "epochs_run")
            },
            split={
                **{p: res.get(f"split/{p}") for p in ("train", "valid", "test")},
                "users": res.get("data/users"),
                "items": res.get("data/items"),
            },
            versions=res.get("versions"),
        )
        epochs = settings.get("epochs") or math.inf
        out["stopped"] = "max_epochs" if res["epochs_run"] >= epochs else "early_stopping"
    else:
        out.update(stopped="time_limit" if cut_off else "failed", epochs_run=len(rows))
        out["split"] = split_from_log(work / "gnnrec.log")
        if not cut_off:
            out["error"] = _log_tail(work / "gnnrec.log")
        ckpt = run_dir / "checkpoint.pt"
        if cut_off and ckpt.is_file():
            scored = score_checkpoint_in_child(run_dir, work)
            notes += scored.pop("notes", [])
            out.update(scored)
        elif cut_off:
            out["notes"].append("cut off before its first checkpoint: no test result")
    return out


def split_from_log(log_path: Path) -> dict[str, int] | None:
    """Interactions per part from gnnrec-train's ``split <method>: {...}`` log line."""
    text = log_path.read_text(errors="replace") if log_path.is_file() else ""
    found = re.search(r"'train': (\d+), 'valid': (\d+), 'test': (\d+)", text)
    if found is None:
        return None
    return dict(zip(("train", "valid", "test"), map(int, found.groups()), strict=True))


def gnnrec_settings(config_path: Path) -> dict[str, Any]:
    """The training settings of a gnnrec run, from its ``config.yaml``."""
    if not config_path.is_file():
        return {}
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(config_path)
    keys = ("epochs", "batch_size", "lr", "reg_weight", "patience", "checkpoint_every")
    out: dict[str, Any] = {k: cfg.train.get(k) for k in keys}
    out.update(
        loss=cfg.loss.get("_target_"),
        sampler=cfg.sampler.get("_target_"),
        num_negatives=cfg.sampler.get("num_negatives"),
        num_layers=cfg.model.get("num_layers"),
        embedding_dim=cfg.model.get("embedding_dim"),
        seed=cfg.get("seed"),
        eval_ks=list(cfg.eval.ks),
        monitor_users=cfg.eval.get("monitor_users"),
    )
    return out


def score_checkpoint_in_child(run_dir: Path, work: Path) -> dict[str, Any]:
    """Test Recall@20 of the best weights in a cut-off gnnrec run's checkpoint
    (a separate process, not timed)."""
    out = work / "gnnrec-checkpoint-test.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--score-checkpoint", str(run_dir)]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.is_file():
        return {"notes": [f"testing the checkpoint failed: {proc.stderr[-500:]}"]}
    scored = json.loads(out.read_text())
    return {
        "best_epoch": scored["best_epoch"],
        "test_recall": scored["test/recall@20"],
        "test_source": (
            f"best weights in checkpoint.pt written after epoch {scored['checkpoint_epoch']}"
        ),
        "split": scored["split"],
    }


def score_checkpoint(run_dir: Path, out: Path) -> None:
    """``--score-checkpoint``: evaluate the best weights of ``run_dir/checkpoint.pt`` on test."""
    import torch
    from omegaconf import OmegaConf

    from gnnrec.cli.common import load_data, make_split
    from gnnrec.cli.train import build_model
    from gnnrec.evaluation import Evaluator
    from gnnrec.train.checkpoint import load_checkpoint

    cfg = OmegaConf.load(run_dir / "config.yaml")
    dataset = load_data(cfg)
    split = make_split(cfg, dataset)
    model = build_model(cfg, split, torch.device("cpu"))
    state = load_checkpoint(run_dir / "checkpoint.pt")
    model.load_state_dict(state["best_state"])
    model.eval()
    ev = Evaluator(split, ks=list(cfg.eval.ks), memory_budget_mb=float(cfg.eval.memory_budget_mb))
    test = ev.evaluate(model.scorer(), "test").metrics
    counts = {**split.counts(), "users": dataset.num_users, "items": dataset.num_items}
    result = {
        "best_epoch": int(state["best_epoch"]),
        "checkpoint_epoch": int(state["epoch"]),
        "test/recall@20": test["test/recall@20"],
        "split": counts,
    }
    out.write_text(json.dumps(result, indent=1) + "\n")


def _peer_result(
    tool: str, cmd: list[str], child: Child, out_dir: Path, log: Path
) -> dict[str, Any]:
    rows = _read_jsonl(out_dir / "epochs.jsonl")
    result_path = out_dir / "result.json"
    res = json.loads(result_path.read_text()) if result_path.is_file() else {}
    start = res.get("train_start_wall")
    walls = [r["wall"] for r in rows]
    with_eval = [b - a if a is not None else None for a, b in pairwise([start, *walls])]
    curve = [
        {
            "epoch": int(r["epoch"]),
            "seconds": r["wall"] - child.launched,
            "train_s": r.get("train_s"),
            "epoch_s": w,
            "loss": r.get("loss"),
            MONITOR: r.get(MONITOR),
        }
        for r, w in zip(rows, with_eval, strict=True)
    ]
    out: dict[str, Any] = {
        "command": cmd,
        "returncode": child.returncode,
        "process_s": child.seconds,
        "cut_off": child.killed or res.get("stopped") == "time_limit",
        "killed": child.killed,
        "peak_rss_mb": child.maxrss_mb,
        "self_reported_maxrss_mb": res.get("maxrss_mb"),
        "setup_s": start - child.launched if start is not None else None,
        "clock": "time.time() written by the child after each validation, minus the launch time",
        "curve": curve,
        "stopped": res.get("stopped", "killed" if child.killed else "failed"),
        "epochs_run": res.get("epochs_run", len(rows)),
        "best_epoch": res.get("best_epoch"),
        "test_recall": res.get("test/recall@20"),
        "test_source": (
            "Evaluator on the best-validation embeddings"
            if tool == "pyg"
            else "Trainer.evaluate(test, load_best_model=True)"
        ),
        "split": res.get("split"),
        "settings": res.get("settings"),
        "versions": res.get("versions"),
        "threads": res.get("threads"),
        "notes": [],
    }
    if not res:
        out["error"] = _log_tail(log)
    return out


def _peer_kill_after(limit: float | None) -> float | None:
    return None if limit is None else 1.5 * limit + 300.0


def run_pyg(dataset: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out_dir = work / "pyg"
    launched = time.time()
    over = OVERRIDES[dataset]
    cmd = [sys.executable, str(HERE / "peer" / "pyg_lightgcn.py"), str(out_dir)]
    cmd += ["--launched-at", repr(launched), "--batch-size", str(args.pyg_batch_size)]
    cmd += ["--lr", str(args.pyg_lr), "--patience", str(args.pyg_patience)]
    cmd += ["--epochs", str(args.max_epochs or 300)]
    if args.time_limit:
        cmd += ["--time-limit", str(args.time_limit)]
    cmd += [*over["data"], *over["gnnrec"], *args.gnnrec_override]
    log = work / "pyg.log"
    child = run_child(
        cmd,
        log,
        launched=launched,
        cwd=REPO,
        kill_after=_peer_kill_after(args.time_limit),
        poll=args.poll,
    )
    return _peer_result("pyg", cmd, child, out_dir, log)


def run_recbole(dataset: str, work: Path, data_path: Path, args: argparse.Namespace) -> dict:
    peer = Path(args.peer_python)
    if not peer.exists():
        return {"skipped": f"no peer python at {peer} (benchmarks/peer/setup_recbole.sh)"}
    out_dir = work / "recbole"
    cwd = work / "recbole-cwd"  # RecBole writes log/ and log_tensorboard/ here
    cwd.mkdir()
    launched = time.time()
    cmd = [str(peer), str(HERE / "peer" / "recbole_train.py"), str(data_path), RECBOLE_NAME]
    cmd += [str(out_dir), "--launched-at", repr(launched)]
    cmd += ["--epochs", str(args.max_epochs or 300)]
    if args.time_limit:
        cmd += ["--time-limit", str(args.time_limit)]
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONWARNINGS": "ignore"}
    log = work / "recbole.log"
    child = run_child(
        cmd,
        log,
        launched=launched,
        cwd=cwd,
        env=env,
        kill_after=_peer_kill_after(args.time_limit),
        poll=args.poll,
    )
    return _peer_result("recbole", cmd, child, out_dir, log)


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = cpu_name()
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def add_summary(report: dict[str, Any]) -> None:
    """Per-tool medians and best values, time to accuracy, ratios, split check."""
    runs = {t: r for t, r in report["tools"].items() if "curve" in r}
    for run in runs.values():
        curve = run["curve"]
        valid = [p for p in curve if p[MONITOR] is not None]
        run["median_train_s"] = _median([p["train_s"] for p in curve])
        run["median_epoch_s"] = _median([p["epoch_s"] for p in curve])
        best = max(valid, key=lambda p: p[MONITOR], default=None)
        run["best_valid_recall"] = best[MONITOR] if best else None
        run["best_valid_epoch"] = best["epoch"] if best else None
    points = {t: [p for p in r["curve"] if p[MONITOR] is not None] for t, r in runs.items()}
    summary = summarise({t: [(p["seconds"], p[MONITOR]) for p in c] for t, c in points.items()})
    for tool, info in summary["tools"].items():
        i = info["index"]
        info["epoch"] = points[tool][i]["epoch"] if i is not None else None
    report["summary"] = summary
    splits = {t: r.get("split") for t, r in runs.items() if r.get("split")}
    keys = ("train", "valid", "test", "users", "items")
    # a key counts where at least two tools report it (a cut-off gnnrec run has no users/items)
    values = {k: {s[k] for s in splits.values() if s.get(k) is not None} for k in keys}
    same = all(len(v) <= 1 for v in values.values())
    report["split_check"] = {"same": same, "counts": splits}


def _f(value: float | None, fmt: str = ".2f", none: str = "-") -> str:
    return none if value is None else format(value, fmt)


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    m = report["machine"]
    limit = report["time_limit_s"]
    lines = [
        f"## LightGCN (3 layers, 64-d) time to accuracy on {report['dataset']}, CPU",
        "",
        f"{m['cpu']}, {m['cpu_count']} cores; load average before {report['load_before'][0]:.1f}, "
        f"after {report['load_after'][0]:.1f}; time limit per tool: "
        + (f"{limit:.0f} s" if limit else "none")
        + (f"; max epochs {report['max_epochs']}" if report["max_epochs"] else ""),
        "",
    ]
    if s.get("target") is not None:
        lines += [
            f"Target: {TARGET_SHARE:.0%} of the best validation Recall@20 reached by any tool "
            f"({s['best_any']:.4f}) = {s['target']:.4f}.",
            "",
        ]
    lines += [
        "| tool | s/epoch train | s/epoch train+valid | epochs | stopped | peak RSS MB "
        "| time to target (s) | epoch | best valid R@20 | epoch | test R@20 |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, run in report["tools"].items():
        if "skipped" in run:
            lines.append(f"| {LABELS[tool]} | skipped: {run['skipped']} |||||||||| ")
            continue
        tta = s["tools"].get(tool, {})
        stopped = run.get("stopped", "")
        if run.get("cut_off"):
            stopped = f"**cut off at {limit:.0f} s**" if limit else "**killed**"
        reached = tta.get("seconds")
        lines.append(
            f"| {LABELS[tool]} | {_f(run.get('median_train_s'))} | {_f(run.get('median_epoch_s'))} "
            f"| {run.get('epochs_run', '-')} | {stopped} | {_f(run.get('peak_rss_mb'), '.0f')} "
            f"| {_f(reached, '.1f', 'not reached')} | {tta.get('epoch') or '-'} "
            f"| {_f(run.get('best_valid_recall'), '.4f')} | {run.get('best_valid_epoch') or '-'} "
            f"| {_f(run.get('test_recall'), '.4f')} |"
        )
    lines.append("")
    ours = s["tools"].get("gnnrec", {}).get("seconds") if s.get("tools") else None
    ratios = s.get("ratios") if "gnnrec" in s.get("tools", {}) else {}
    for peer, ratio in (ratios or {}).items():
        if ratio is not None:
            lines.append(
                f"- {LABELS[peer]} needs {ratio:.2f}x gnnrec's time to the target "
                f"({s['tools'][peer]['seconds']:.1f} s vs {ours:.1f} s)."
            )
        else:
            lines.append(f"- {LABELS[peer]} vs gnnrec: no ratio (one of them never reached it).")
    if s.get("better_peer"):
        bp = s["better_peer"]
        ratio = s["ratios"].get(bp)
        lines.append(
            f"- Better peer: {LABELS[bp]}"
            + (f"; gnnrec / {LABELS[bp]} time = {1 / ratio:.2f}." if ratio else ".")
        )
    check = report.get("split_check", {})
    lines += [
        "",
        "Split (interactions train/valid/test, users, items) per tool: "
        + "; ".join(
            f"{LABELS[t]} {c.get('train')}/{c.get('valid')}/{c.get('test')}, "
            f"{c.get('users')}, {c.get('items')}"
            for t, c in check.get("counts", {}).items()
        )
        + (" (the same)" if check.get("same") else " (**DIFFERENT**)"),
        "",
        f"Overrides: data `{' '.join(report['overrides']['data']) or '(none)'}`; "
        f"gnnrec `{' '.join(report['overrides']['gnnrec']) or '(none)'}`.",
        "",
        "Settings:",
    ]
    for tool, run in report["tools"].items():
        if run.get("settings"):
            cells = ", ".join(f"{k} {v}" for k, v in run["settings"].items() if k != "eval_args")
            lines.append(f"- {LABELS[tool]}: {cells}")
    lines += ["", "Clocks (from the launch of each process, data loading included):"]
    for tool, run in report["tools"].items():
        if "clock" in run:
            lines.append(f"- {LABELS[tool]}: {run['clock']}; setup {_f(run.get('setup_s'))} s.")
    for tool, run in report["tools"].items():
        for note in run.get("notes", []):
            lines.append(f"- {LABELS[tool]}: {note}")
        if run.get("test_source"):
            lines.append(f"- {LABELS[tool]} test R@20: {run['test_source']}.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(OVERRIDES), default="ml-100k")
    parser.add_argument("--only", default=",".join(TOOLS), help="e.g. gnnrec,pyg")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds per tool from its launch; default: none for ml-100k and amazon-beauty, "
        "1200 for gowalla; 0: none",
    )
    parser.add_argument("--max-epochs", type=int, default=None, help="cap for every tool")
    parser.add_argument(
        "--gnnrec-override",
        action="append",
        default=[],
        help="one more gnnrec-train override (repeatable), after those of OVERRIDES",
    )
    parser.add_argument("--pyg-batch-size", type=int, default=2048)
    parser.add_argument("--pyg-lr", type=float, default=0.001)
    parser.add_argument("--pyg-patience", type=int, default=20)
    parser.add_argument("--peer-python", default=str(REPO / ".peer-env" / "bin" / "python"))
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between checks")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary folder")
    parser.add_argument("--score-checkpoint", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = DEFAULT_TIME_LIMIT[args.dataset]
    elif args.time_limit <= 0:
        args.time_limit = None
    args.only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = set(args.only) - set(TOOLS)
    if unknown:
        parser.error(f"--only: unknown tool(s) {sorted(unknown)}; choose from {', '.join(TOOLS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.score_checkpoint:
        score_checkpoint(Path(args.score_checkpoint), Path(args.out))
        return
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="tta-"))
    report: dict[str, Any] = {
        "dataset": args.dataset,
        "machine": machine(),
        "load_before": os.getloadavg(),
        "time_limit_s": args.time_limit,
        "max_epochs": args.max_epochs,
        "target_share": TARGET_SHARE,
        "overrides": {
            "data": OVERRIDES[args.dataset]["data"],
            "gnnrec": [*OVERRIDES[args.dataset]["gnnrec"], *args.gnnrec_override],
            "gnnrec_runner": GNNREC_RUNNER,
        },
        "pyg": {
            "batch_size": args.pyg_batch_size,
            "lr": args.pyg_lr,
            "patience": args.pyg_patience,
        },
        "tools": {},
    }
    print(f"work folder {work}; overrides {report['overrides']}", flush=True)
    try:
        data_path = export_split(
            OVERRIDES[args.dataset]["data"], work / "recbole-data", work / "export.log"
        )
        for tool in TOOLS:
            if tool not in args.only:
                continue
            print(f"{tool} ...", flush=True)
            if tool == "gnnrec":
                run = run_gnnrec(args.dataset, work, args)
            elif tool == "pyg":
                run = run_pyg(args.dataset, work, args)
            else:
                run = run_recbole(args.dataset, work, data_path, args)
            report["tools"][tool] = run
            if "error" in run:
                print(f"{tool} failed:\n{run['error']}", file=sys.stderr, flush=True)
            else:
                print(f"{tool}: {run.get('epochs_run')} epochs, {run.get('process_s', 0):.1f} s")
    finally:
        if args.keep_work:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    add_summary(report)
    report["wall_s"] = time.time() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"time_to_accuracy-{args.dataset}"
    tmp = stem.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=float) + "\n")
    os.replace(tmp, stem.with_suffix(".json"))
    text = markdown(report)
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"written to {stem}.json and .md")


if __name__ == "__main__":
    main()
