"""Where a training step's time goes: a step against its propagation alone, and a profile.

    python benchmarks/step_profile.py                       # Gowalla's default config
    python benchmarks/step_profile.py dataset=ml-100k       # any gnnrec-train overrides
    python benchmarks/step_profile.py --steps 30 --profile-steps 0

Builds data, split, graph, model, loss and sampler exactly as ``gnnrec-train``
does for the given overrides (default: ``dataset=gowalla-shared``, whose
config carries the Gowalla training settings), then measures on the same
process and matrices:

(a) ``propagation``: the model's forward (every layer of the sparse
    propagation and the layer combination) and the backward of the sum of
    its outputs — the floor of any step of a full-graph model;
(b) ``step``: one whole optimisation step as :class:`gnnrec.train.Trainer`
    runs it (negative sampling, forward, loss terms, backward, Adam);
(c) the step split into phases, timed separately on a replica of the step
    made of the same library calls: sampling, forward, loss (gathers and
    loss terms), backward, optimiser;
(d) with ``--profile-steps N``: ``torch.profiler`` over N consecutive steps
    (default: one epoch's worth), the operators by self CPU time.

Medians over ``--steps`` timed steps after ``--warmup``. Writes
``benchmarks/results/step_profile-<dataset>.json`` and ``.md``; the
acceptance bound of issue 11 is ``step / propagation <= 1.5``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
import warnings
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from torch.profiler import ProfilerActivity, profile

from gnnrec.cli.common import build, load_data, make_split
from gnnrec.cli.train import build_model, training_components
from gnnrec.logging.run_info import cpu_name
from gnnrec.losses.base import LossInput
from gnnrec.sampling.base import TrainingPairs
from gnnrec.train.allocator import tune_cpu_allocator

ROOT = Path(__file__).resolve().parents[1]
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def median_time(fn, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", default=["dataset=gowalla-shared"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--profile-steps", type=int, default=-1, help="-1: one epoch of steps; 0: no profile"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", help="results file stem suffix (default: the dataset's name)")
    args = parser.parse_args()

    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(args.overrides))
    torch.manual_seed(int(cfg.seed))
    device = torch.device("cpu")
    if cfg.get("tune_malloc", True):
        tune_cpu_allocator()  # as gnnrec-train does on CPU
    dataset = load_data(cfg)
    split = make_split(cfg, dataset)
    model = build_model(cfg, split, device)
    pairs = TrainingPairs.from_split(split, device)
    loss, sampler = training_components(cfg, pairs, model, list(args.overrides))
    trainer = build(cfg.train, "trainer")
    optimizer = torch.optim.Adam(model.parameters(), lr=trainer.lr)
    generator = torch.Generator().manual_seed(int(cfg.seed))
    n, batch_size = len(pairs.users), int(trainer.batch_size)
    steps_per_epoch = math.ceil(n / batch_size)
    model.train()

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, n, (batch_size,), generator=generator)
        return pairs.users[idx], pairs.items[idx]

    def propagation() -> None:
        user_emb, item_emb = model()
        (user_emb.sum() + item_emb.sum()).backward()
        model.zero_grad(set_to_none=True)

    def step() -> None:
        users, pos = batch()
        terms = trainer.step_terms(model, loss, sampler, users, pos, generator)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()

    phases = {p: [] for p in ("sample", "forward", "loss", "backward", "optimizer")}

    def phased_step() -> None:
        users, pos = batch()
        t0 = time.perf_counter()
        neg = sampler.sample(users, pos, generator)
        t1 = time.perf_counter()
        user_emb, item_emb = model()
        t2 = time.perf_counter()
        flat = neg.reshape(-1)
        inputs = LossInput(
            users=users,
            pos=pos,
            neg=neg,
            user_emb=user_emb.index_select(0, users),
            pos_emb=item_emb.index_select(0, pos),
            neg_emb=item_emb.index_select(0, flat).view(*neg.shape, item_emb.shape[1]),
        )
        terms = dict(loss(inputs))
        reg = trainer.reg_weight * 0.5 * model.regularization(users, pos, flat) / len(users)
        total = sum(terms.values()) + reg
        t3 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        t4 = time.perf_counter()
        optimizer.step()
        t5 = time.perf_counter()
        stamps = (t0, t1, t2, t3, t4, t5)
        for i, name in enumerate(phases):
            phases[name].append(stamps[i + 1] - stamps[i])

    if sampler.uses_scores:
        raise SystemExit("the phase split does not cover score-aware samplers (sampler=hard)")
    prop_s = median_time(propagation, args.steps, args.warmup)
    step_s = median_time(step, args.steps, args.warmup)
    median_time(phased_step, args.steps, args.warmup)
    phase_s = {k: statistics.median(v[args.warmup :]) for k, v in phases.items()}
    print(f"propagation fwd+bwd {prop_s:.4f} s, step {step_s:.4f} s, ratio {step_s / prop_s:.2f}")
    print("phases: " + ", ".join(f"{k} {v:.4f} s" for k, v in phase_s.items()))

    ops: list[dict] = []
    profiled = steps_per_epoch if args.profile_steps < 0 else args.profile_steps
    if profiled:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(profiled):
                step()
        total = sum(e.self_cpu_time_total for e in prof.key_averages())
        for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:15]:
            ops.append(
                {
                    "op": e.key,
                    "calls": e.count,
                    "self_cpu_s": e.self_cpu_time_total / 1e6,
                    "share": e.self_cpu_time_total / total,
                }
            )

    name = args.name or str(dataset.name)
    result = {
        "dataset": str(dataset.name),
        "overrides": list(args.overrides),
        "model": str(cfg.model.name),
        "loss": repr(loss),
        "sampler": repr(sampler),
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "nodes": int(model.num_users + model.num_items),
        "train_interactions": n,
        "propagation_s": prop_s,
        "step_s": step_s,
        "step_over_propagation": step_s / prop_s,
        "phases_s": phase_s,
        "epoch_s_from_steps": step_s * steps_per_epoch,
        "profiled_steps": profiled,
        "profile_top_ops": ops,
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"step_profile-{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Step profile: {result['model']} on {name}",
        "",
        f"Machine: {result['machine']}, {result['threads']} threads, torch {result['torch']}. "
        f"Overrides: `{' '.join(args.overrides)}`; loss {result['loss']}, "
        f"sampler {result['sampler']}, batch {batch_size} ({steps_per_epoch} steps per epoch). "
        f"Medians of {args.steps} steps after {args.warmup} warm-up steps.",
        "",
        "| measure | seconds | share of step |",
        "|---|---:|---:|",
        f"| propagation forward + backward alone | {prop_s:.4f} | {prop_s / step_s:.0%} |",
        f"| **training step** | **{step_s:.4f}** | 100% |",
        *(f"| phase: {k} | {v:.4f} | {v / step_s:.0%} |" for k, v in phase_s.items()),
        "",
        f"**step / propagation = {step_s / prop_s:.2f}** (bound: 1.5).",
    ]
    if ops:
        lines += [
            "",
            f"`torch.profiler` over {profiled} steps"
            + (" (one epoch)" if profiled == steps_per_epoch else "")
            + ", operators by self CPU time:",
            "",
            "| operator | calls | self CPU s | share |",
            "|---|---:|---:|---:|",
            *(
                f"| `{o['op']}` | {o['calls']} | {o['self_cpu_s']:.2f} | {o['share']:.1%} |"
                for o in ops
            ),
        ]
    (args.out / f"step_profile-{name}.md").write_text("\n".join(lines) + "\n")
    print(f"written: {args.out / f'step_profile-{name}.md'}")


if __name__ == "__main__":
    main()
