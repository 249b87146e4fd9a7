"""Multi-process data-parallel training: one process per device, one model each.

Launched by ``torchrun --nproc_per_node=N -m gnnrec.cli.train ...`` (which
sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) or as the tasks of one submitit job (``launcher=slurm``
with ``hydra.launcher.tasks_per_node>1``), every process runs the whole
pipeline and joins one process group: ``gloo`` on CPU, ``nccl`` on CUDA,
where rank ``r`` uses ``cuda:LOCAL_RANK``.

Semantics of one optimisation step (:meth:`Trainer.fit` with a
:class:`DataParallel`):

- every rank holds the full model and draws the same permutation of the
  training pairs from the run's shared, identically seeded generator, so
  all ranks agree on the *global* batch of ``train.batch_size`` pairs;
- the negatives are drawn for the whole global batch from that shared
  generator on every rank (cheap next to the propagation), exactly as one
  process draws them; this keeps the shared generator in step across ranks
  and makes an N-process run see the same batches and negatives as a
  one-process run;
- the global batch is cut into ``world_size`` contiguous shards of
  (nearly) equal size (:func:`shard_bounds`); each rank computes the loss
  terms on its shard only; random draws of the model's auxiliary terms use
  a per-rank generator (:func:`rank_seed`), since their size depends on
  the shard;
- after ``backward`` each rank scales its gradients by
  ``|shard| / |batch|`` and they are summed over ranks (one all-reduce of a
  flat buffer), so every rank applies the gradient of the one-process
  mean loss (up to the order of float summation) and the ranks keep
  identical parameters.

The graph propagation of LightGCN-style models covers the whole graph and
is *replicated* on every rank, not split: only the batch part (gathers,
loss, negative scoring, auxiliary terms) is divided. This module is the
seam for multi-GPU and multi-node runs, not a speed-up of the propagation.

Exact equality with one process (up to summation order) holds for terms
that are means over pairs (BPR, L2, pair-wise terms). Terms that couple
the pairs of a batch -- in-batch negatives of the sampled softmax,
DirectAU's uniformity, InfoNCE over the batch's users -- are computed
within each shard, as in any data-parallel trainer; so is a per-batch
normalisation of ``pair_weights``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from gnnrec.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchEnv:
    """Where this process sits among the launched ones."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    init_method: str
    """``env://`` (torchrun's variables) or ``tcp://host:port`` (submitit)."""


@dataclass(frozen=True)
class Shard:
    """This rank's part of one global batch.

    Attributes:
        rows: the batch rows this rank computes, ``rows.start:rows.stop``.
        weight: the factor of this rank's mean-loss gradient in the global
            one, ``|shard| / |batch|`` (``1 / world_size`` when the batch
            has fewer rows than ranks and every rank takes all of it).
        generator: this rank's own random stream (auxiliary terms).
    """

    rows: slice
    weight: float
    generator: torch.Generator


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ConfigError(f"environment variable {name} is not set (expected an integer)")
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def launch_env() -> LaunchEnv | None:
    """The launcher's view of this process, or None when it runs alone.

    ``WORLD_SIZE`` set (torchrun, or any launcher that follows its
    convention): ``RANK``, ``LOCAL_RANK`` and the ``env://`` rendezvous
    (``MASTER_ADDR``, ``MASTER_PORT``). Else, inside a submitit job
    (``SUBMITIT_EXECUTOR`` set) of more than one task: submitit's ranks and
    the first host of the job as the rendezvous. A world of one process is
    a plain run.
    """
    if "WORLD_SIZE" in os.environ:
        world_size = _env_int("WORLD_SIZE")
        env = LaunchEnv(
            rank=_env_int("RANK"),
            world_size=world_size,
            local_rank=_env_int("LOCAL_RANK", 0),
            local_world_size=_env_int("LOCAL_WORLD_SIZE", world_size),
            init_method="env://",
        )
    elif os.environ.get("SUBMITIT_EXECUTOR"):
        import submitit  # only inside submitit jobs, where it is installed

        job = submitit.JobEnvironment()
        if job.num_tasks <= 1:
            return None
        rendezvous = submitit.helpers.TorchDistributedEnvironment()
        env = LaunchEnv(
            rank=rendezvous.rank,
            world_size=rendezvous.world_size,
            local_rank=rendezvous.local_rank,
            local_world_size=rendezvous.local_world_size,
            init_method=f"tcp://{rendezvous.master_addr}:{rendezvous.master_port}",
        )
    else:
        return None
    if env.world_size <= 1:
        return None
    if not 0 <= env.rank < env.world_size:
        raise ConfigError(f"RANK={env.rank} is outside 0..{env.world_size - 1} (WORLD_SIZE)")
    return env


def is_main() -> bool:
    """Whether this process writes the run's files: rank 0, or the only process."""
    env = launch_env()
    return env is None or env.rank == 0


def shard_bounds(batch: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``rank``'s contiguous shard of ``batch`` rows.

    The first ``batch % world_size`` ranks take one row more than the others;
    the shards tile ``0..batch`` in rank order.
    """
    base, extra = divmod(batch, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + int(rank < extra)


def rank_seed(seed: int, rank: int) -> int:
    """Seed of ``rank``'s own random stream: numpy's ``SeedSequence`` child
    ``(rank,)`` of the run's seed (well mixed, unlike ``seed + rank``, so no
    rank's stream is another run's or the shared generator's)."""
    state = np.random.SeedSequence(seed, spawn_key=(rank,)).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))  # manual_seed takes a non-negative int64


@dataclass
class DataParallel:
    """This process's place in a data-parallel run and the collectives it needs.

    Build it with :meth:`from_env`; hand it to ``Trainer.fit(parallel=...)``;
    :meth:`close` it at the end of the run.

    Attributes:
        rank: global rank, 0 is the main rank (files, logs).
        world_size: number of processes.
        local_rank: rank on this node (its CUDA device).
        device: ``cuda:LOCAL_RANK`` on CUDA, else the CPU.
        generator: this rank's own random stream (:func:`rank_seed`).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    generator: torch.Generator

    @classmethod
    def from_env(cls, device: torch.device, seed: int) -> DataParallel | None:
        """Join the launcher's process group; None for a plain one-process run.

        ``device`` is the run's resolved device; on CUDA each rank takes
        ``cuda:LOCAL_RANK`` instead. On the CPU, without ``OMP_NUM_THREADS``,
        each rank takes an equal share of this node's cores as torch threads.
        """
        env = launch_env()
        if env is None:
            return None
        if device.type == "cuda":
            if device.index not in (None, env.local_rank):
                log.warning("rank %d uses cuda:%d, not %s", env.rank, env.local_rank, device)
            device = torch.device("cuda", env.local_rank)
            torch.cuda.set_device(device)
        elif "OMP_NUM_THREADS" not in os.environ:
            # N processes x all cores each: OpenMP threads spinning on shared cores made
            # a 2-task CPU job 30x slower (torchrun sets OMP_NUM_THREADS=1 for this reason)
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
            torch.set_num_threads(max(1, (cores or os.cpu_count() or 1) // env.local_world_size))
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend, init_method=env.init_method, rank=env.rank, world_size=env.world_size
        )
        log.info("rank %d of %d on %s (%s)", env.rank, env.world_size, device, backend)
        generator = torch.Generator(device=device).manual_seed(rank_seed(seed, env.rank))
        return cls(env.rank, env.world_size, env.local_rank, device, generator)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and logs."""
        return self.rank == 0

    def shard(self, batch: int) -> Shard:
        """This rank's rows of a global batch of ``batch`` rows and their weight.

        A batch with fewer rows than ranks (only a last, short one can be) is
        computed whole by every rank, each gradient weighted ``1/world_size``:
        no rank ever takes an empty shard, whose mean loss is undefined.
        """
        if batch < self.world_size:
            return Shard(slice(0, batch), 1.0 / self.world_size, self.generator)
        start, stop = shard_bounds(batch, self.rank, self.world_size)
        return Shard(slice(start, stop), (stop - start) / batch, self.generator)

    def all_reduce_gradients(self, parameters: Iterable[torch.nn.Parameter], weight: float) -> None:
        """Replace every gradient by the sum over ranks of ``weight`` x gradient.

        One all-reduce of a flat buffer. A parameter without a gradient on
        this rank counts as zero; it keeps no gradient only when it has none
        on any rank (a flag per parameter travels in the same buffer), so the
        optimiser treats it alike everywhere.
        """
        params = [p for p in parameters if p.requires_grad]
        if not params:
            return
        parts = [
            (p.grad.reshape(-1) * weight if p.grad is not None else p.new_zeros(p.numel()))
            for p in params
        ]
        present = [1.0 if p.grad is not None else 0.0 for p in params]
        flat = torch.cat([*parts, parts[0].new_tensor(present)])
        dist.all_reduce(flat)
        offset = 0
        grads = flat[: flat.numel() - len(params)]
        for p, count in zip(params, flat[-len(params) :].tolist(), strict=True):
            grad = grads[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
            if count == 0:
                continue
            if p.grad is None:
                p.grad = grad.clone()
            else:
                p.grad.copy_(grad)

    def sum_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        """``values`` summed key by key over the ranks (same keys on every rank)."""
        if not values:
            return values
        total = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return dict(zip(values, total.tolist(), strict=True))

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (an early-stopping decision): ranks
        that left the loop at different epochs would wait for each other forever."""
        value = torch.tensor([int(flag)], device=self.device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def agree_signal(self, signum: int | None) -> int | None:
        """A stop signal seen by any rank, on every rank (the largest number when
        ranks saw different ones), so that all of them stop after the same epoch."""
        value = torch.tensor([signum or 0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return int(value.item()) or None

    def close(self) -> None:
        """Leave the process group."""
        if dist.is_initialized():
            dist.destroy_process_group()
