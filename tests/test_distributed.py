"""Multi-process data-parallel training: shards, gradient averaging, one writer.

Two CPU processes on ``gloo`` must train to the weights and metrics of one
process with the same global batch (the gradient is the same up to the order
of float summation), hold identical weights, and leave one set of run files.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from gnnrec.data.split import temporal_split
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.graph.build import build_graph
from gnnrec.logging.rundir import LOCK_NAME
from gnnrec.models.lightgcn import LightGCN
from gnnrec.sampling import TrainingPairs
from gnnrec.train.distributed import DataParallel, launch_env, rank_seed, shard_bounds
from gnnrec.train.loop import Trainer
from tests.conftest import make_dataset
from tests.test_cli_train import BIN, gnnrec_train

SEED = 7


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def untimed(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """Epoch rows without their clock readings."""
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in history]


def test_shard_bounds_tile_the_batch():
    # 10 rows over 3 ranks: 10 = 3*3 + 1, so rank 0 takes 4 rows, ranks 1 and 2 take 3
    assert [shard_bounds(10, r, 3) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]
    # 7 rows over 2 ranks: 4 + 3
    assert [shard_bounds(7, r, 2) for r in range(2)] == [(0, 4), (4, 7)]
    # an even split and one rank (the whole batch)
    assert [shard_bounds(8, r, 4) for r in range(4)] == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert shard_bounds(5, 0, 1) == (0, 5)


def test_shard_weights_sum_to_one_and_a_short_batch_is_replicated():
    ranks = [
        DataParallel(r, 3, r, torch.device("cpu"), torch.Generator().manual_seed(r))
        for r in range(3)
    ]
    shards = [p.shard(10) for p in ranks]
    assert [s.rows for s in shards] == [slice(0, 4), slice(4, 7), slice(7, 10)]
    assert [s.weight for s in shards] == [0.4, 0.3, 0.3]  # 4/10, 3/10, 3/10
    # 2 rows, 3 ranks: no empty shard (its mean loss is NaN); each computes both rows
    short = [p.shard(2) for p in ranks]
    assert all(s.rows == slice(0, 2) and s.weight == pytest.approx(1 / 3) for s in short)


def test_rank_seeds_differ_and_are_reproducible():
    seeds = [rank_seed(SEED, r) for r in range(4)]
    assert len(set(seeds)) == 4 and SEED not in seeds
    assert seeds == [rank_seed(SEED, r) for r in range(4)]


def test_a_plain_process_is_not_distributed(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "SUBMITIT_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    assert launch_env() is None
    assert DataParallel.from_env(torch.device("cpu"), SEED) is None
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc_per_node=1: a plain run too
    monkeypatch.setenv("RANK", "0")
    assert launch_env() is None


class NoisyLightGCN(LightGCN):
    """LightGCN with a zero auxiliary term that draws one number per batch row:
    were such draws taken from the shared generator, ranks with shards of
    different sizes would fall out of step (different permutations)."""

    def auxiliary_losses(self, users, pos, neg, generator):
        noise = torch.rand(len(users), generator=generator)
        return {"noise": 0.0 * noise.sum()}


def _split():
    rng = np.random.default_rng(0)
    triples = [
        (u, int(i), float(t))
        for u in range(24)
        for t, i in enumerate(rng.permutation(30)[: 6 + u % 5])
    ]
    labels = [[i % 4] for i in range(30)]
    return temporal_split(make_dataset(triples, 24, 30, labels, 4))


def _fit(parallel: DataParallel | None, model_cls: type[LightGCN] = LightGCN):
    """A short LightGCN fit; batch 7 splits 4 + 3 over two ranks."""
    split = _split()
    torch.manual_seed(SEED)
    model = model_cls.from_graph(
        build_graph(split), embedding_dim=8, num_layers=2, message_dropout=0.2
    )  # dropout: torch's global generator must stay in step too
    pairs = TrainingPairs.from_split(split)
    trainer = Trainer(epochs=4, batch_size=7, lr=0.01, monitor="recall@5", progress=False)
    generator = torch.Generator().manual_seed(SEED)
    result = trainer.fit(
        model, Evaluator(split, ks=[5]), pairs.users, pairs.items, generator, parallel=parallel
    )
    return model, generator, result


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    parallel = DataParallel.from_env(torch.device("cpu"), SEED)
    assert parallel is not None
    try:
        saved = {}
        for name, cls in (("plain", LightGCN), ("noisy", NoisyLightGCN)):
            model, generator, result = _fit(parallel, cls)
            saved[name] = {
                "params": {k: v.clone() for k, v in model.state_dict().items()},
                "generator": generator.get_state(),
                "history": result.history,
            }
        torch.save(saved, Path(out) / f"rank{rank}.pt")
    finally:
        parallel.close()


def test_two_ranks_train_like_one_process(tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for name in ("plain", "noisy"):
        a, b = ranks[0][name], ranks[1][name]
        # all-reduced gradients, the same Adam step: bit-identical weights on every rank
        for key, value in a["params"].items():
            assert torch.equal(value, b["params"][key]), (name, key)
        # the shared generator (permutations, negatives) stayed in step
        assert torch.equal(a["generator"], b["generator"]), name
        assert untimed(a["history"]) == untimed(b["history"])

    model, generator, result = _fit(None)
    plain = ranks[0]["plain"]
    # the same batches and negatives as one process (the generators end in one state) ...
    assert torch.equal(plain["generator"], generator.get_state())
    # ... so the weights differ only by float summation order (observed: 4.5e-8)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(plain["params"][key], value, rtol=0, atol=1e-5)
    for one, two in zip(result.history, plain["history"], strict=True):
        assert two["valid/recall@5"] == pytest.approx(one["valid/recall@5"], abs=1e-6)
        assert two["train/loss"] == pytest.approx(one["train/loss"], rel=1e-5)


def test_torchrun_matches_one_process_and_rank_0_alone_writes(tmp_path):
    args = ("train.epochs=3", "logger=none", "train.progress=false", "eval.ks=[20]")
    gnnrec_train(*args, "hydra.run.dir=one", cwd=tmp_path)
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            str(BIN / "torchrun"),
            "--nproc_per_node=2",
            f"--master_port={free_port()}",
            "-m",
            "gnnrec.cli.train",
            *args,
            "hydra.run.dir=two",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("results:") == 1  # rank 0 prints the table, rank 1 nothing
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("results.json")) == [
        "one/results.json",
        "two/results.json",
    ]
    assert not list(tmp_path.rglob("error.txt"))
    # no temporary file left behind; the lock file is the run's own (rank 0 took it)
    hidden = [
        p.name for p in (tmp_path / "two").iterdir() if p.name.startswith(".") and p.is_file()
    ]
    assert hidden == [LOCK_NAME]
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    one_epochs, two_epochs = (
        [json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
        for d in ("one", "two")
    )
    assert [row["epoch"] for row in two_epochs] == [1, 2, 3]  # one writer, no repeated lines
    # Observed on ml-100k (2 CPU cores): every ranking metric equal to the last
    # digit, ild_cos (embedding cosines) within 2e-9, epoch losses within 3e-8
    # relative. The metric tolerance, 1e-3 (a few of the ~19k top-20 slots),
    # leaves room for near-ties that summation order flips on other CPUs.
    for a, b in zip(one_epochs, two_epochs, strict=True):
        assert b["train/loss"] == pytest.approx(a["train/loss"], rel=1e-6)
    for key in ("valid/recall@20", "test/recall@20", "test/ndcg@20", "test/cat_coverage@20"):
        assert two[key] == pytest.approx(one[key], abs=1e-3), key
    assert two["best_epoch"] == one["best_epoch"]


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_submitit_tasks_of_one_job_train_as_ranks(tmp_path):
    """``launcher=slurm hydra.launcher.tasks_per_node=2``'s local twin: submitit
    starts two tasks of one job, they join one process group, rank 0 writes."""
    gnnrec_train(
        "-m",
        "launcher=submitit_local",
        "hydra.launcher.tasks_per_node=2",
        "train.epochs=2",
        "logger=none",
        "train.progress=false",
        "eval.ks=[20]",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    (results,) = (tmp_path / "sweep").rglob("results.json")
    logs = "".join(p.read_text() for p in (tmp_path / "sweep" / ".submitit").rglob("*_log.*"))
    assert "rank 0 of 2 on cpu (gloo)" in logs and "rank 1 of 2 on cpu (gloo)" in logs
    epochs = [
        json.loads(line) for line in (results.parent / "metrics.jsonl").read_text().splitlines()
    ]
    assert [row["epoch"] for row in epochs] == [1, 2]
