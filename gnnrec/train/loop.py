"""The training loop: one propagation per step, a switchable loss on sampled
negatives plus the model's auxiliary terms, early stopping."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from tqdm.auto import tqdm

from gnnrec.errors import ConfigError, TrainingDiverged
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.losses.base import Loss, LossInput
from gnnrec.losses.bpr import BPRLoss
from gnnrec.models.base import Recommender
from gnnrec.sampling.base import NegativeSampler, TrainingPairs
from gnnrec.sampling.uniform import UniformSampler
from gnnrec.train.checkpoint import (
    load_checkpoint,
    random_states,
    restore_random_states,
    save_checkpoint,
)
from gnnrec.train.distributed import DataParallel, Shard
from gnnrec.train.divergence import DivergenceGuard, gradient_norm, likely_cause
from gnnrec.train.early_stopping import EarlyStopping
from gnnrec.train.preemption import TrainingInterrupted

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]
ResumeCallback = Callable[[list[dict[str, float]]], None]
StopRequest = Callable[[], int | None]
"""Returns the signal that asks training to stop (e.g. ``StopSignals.requested``), or None."""


@dataclass
class FitResult:
    """What training produced: the best epoch and the history of its metrics."""

    best_epoch: int
    best_value: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    train_time_s: float = 0.0
    resumed_from: int = 0


@dataclass
class Trainer:
    """Trains a :class:`Recommender` and stops early on a validation metric.

    Each epoch first calls ``model.start_epoch(generator)`` (models with
    random graph views build them there). Each optimisation step then runs
    the model's full forward once (one graph propagation), draws ``n``
    negatives per (user, positive) pair with the sampler on the device, and
    minimises

    .. math::
        \\mathcal{L} = \\mathcal{L}_{loss}
            + \\frac{\\lambda}{2|B|}\\sum_{x \\in B} \\lVert \\mathbf{e}^{(0)}_x \\rVert^2
            + \\sum_a \\mathcal{L}_a

    with the configured loss (BPR, sampled softmax, DirectAU, ...), L2 on
    the layer-0 parameters the batch touches (users, positives and
    negatives; ``model.regularization``) and the model's auxiliary terms
    (``model.auxiliary_losses``: contrastive views, classifiers, ...), by
    one Adam step. Training interactions are visited in a fresh random
    order every epoch. Every term is logged as ``train/<name>``.

    Args:
        epochs: maximum number of epochs.
        batch_size: positive pairs per step.
        lr: Adam learning rate (of the first epoch).
        lr_decay: the learning rate of epoch ``e`` is ``lr * lr_decay ** (e - 1)``
            (1: constant). A function of the epoch alone, so a resumed run
            continues the same schedule.
        reg_weight: L2 weight :math:`\\lambda`.
        eval_every: validate every this many epochs.
        patience: validations without improvement before stopping.
        monitor: validation metric for early stopping and model selection.
        progress: show a progress bar per epoch.
        checkpoint_every: write the checkpoint given to :meth:`fit` every
            this many epochs (and at the last); 0: never.
        resume: continue from that checkpoint when it exists (a killed run
            then ends with the metrics of an uninterrupted one on CPU).
        select_on: the part whose ``monitor`` picks the epoch: ``valid``
            (default) or ``test`` — the protocol of the NGCF/LightGCN papers,
            which report the best test epoch; optimistic, so only for
            reproducing published tables (a warning says so).
        divergence_ratio: a step whose loss exceeds this many times
            max(1, |first step's loss|) stops training as diverged
            (:class:`~gnnrec.train.divergence.DivergenceGuard`); None: only
            NaN/infinite losses and gradients do (they always do).

    Every epoch's row also holds ``train/elapsed_s``: seconds since training
    started (previous runs of a resumed fit included), evaluations included —
    the clock of time-to-accuracy benchmarks.
    """

    epochs: int = 300
    batch_size: int = 2048
    lr: float = 1e-3
    lr_decay: float = 1.0
    reg_weight: float = 1e-4
    eval_every: int = 1
    patience: int = 10
    monitor: str = "recall@20"
    progress: bool = True
    checkpoint_every: int = 0
    resume: bool = False
    select_on: str = "valid"
    divergence_ratio: float | None = 1000.0

    def __post_init__(self) -> None:
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "eval_every": self.eval_every,
            "patience": self.patience,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"train.{name} must be a positive number, got {value!r}")
        if isinstance(self.checkpoint_every, bool) or not isinstance(self.checkpoint_every, int):
            raise ConfigError(
                f"train.checkpoint_every must be an integer >= 0, got {self.checkpoint_every!r}"
            )
        if self.checkpoint_every < 0:
            raise ConfigError(f"train.checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if (
            isinstance(self.lr_decay, bool)
            or not isinstance(self.lr_decay, int | float)
            or not 0 < self.lr_decay <= 1
        ):
            raise ConfigError(f"train.lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if self.select_on not in ("valid", "test"):
            raise ConfigError(f"train.select_on must be 'valid' or 'test', got {self.select_on!r}")
        if not isinstance(self.reg_weight, int | float) or self.reg_weight < 0:
            raise ConfigError(f"train.reg_weight must be >= 0, got {self.reg_weight!r}")
        ratio = self.divergence_ratio
        if ratio is not None and (
            isinstance(ratio, bool) or not isinstance(ratio, int | float) or not ratio > 1
        ):
            raise ConfigError(f"train.divergence_ratio must be a number > 1 or null, got {ratio!r}")

    def step_terms(
        self,
        model: Recommender,
        loss: Loss,
        sampler: NegativeSampler,
        users: torch.Tensor,
        pos: torch.Tensor,
        generator: torch.Generator,
        shard: Shard | None = None,
    ) -> dict[str, torch.Tensor]:
        """Every named loss term of one optimisation step; ``loss`` is their sum.

        With ``shard`` (data-parallel training, :mod:`gnnrec.train.distributed`)
        the negatives are drawn for the whole batch from the shared
        ``generator``, as one process draws them, and the terms cover the
        shard's rows only; the model's auxiliary terms draw from the shard's
        per-rank generator.
        """
        if not sampler.uses_scores:
            neg = sampler.sample(users, pos, generator)
        user_emb, item_emb = model()
        if sampler.uses_scores:
            neg = sampler.sample(users, pos, generator, user_emb.detach(), item_emb.detach())
        if shard is not None:
            users, pos, neg = users[shard.rows], pos[shard.rows], neg[shard.rows]
            generator = shard.generator
        flat_neg = neg.reshape(-1)
        # index_select, not emb[idx]: its backward is deterministic on CPU threads
        u = user_emb.index_select(0, users)
        batch = LossInput(
            users=users,
            pos=pos,
            neg=neg,
            user_emb=u,
            pos_emb=item_emb.index_select(0, pos),
            neg_emb=item_emb.index_select(0, flat_neg).view(*neg.shape, item_emb.shape[1]),
            weight=model.pair_weights(users, pos),
        )
        terms = dict(loss(batch))
        terms["reg"] = (
            self.reg_weight * 0.5 * model.regularization(users, pos, flat_neg) / len(users)
        )
        for name, value in model.auxiliary_losses(users, pos, neg, generator).items():
            if name in terms or name == "loss":
                raise ValueError(f"auxiliary term {name!r} clashes with a loss term")
            terms[name] = value
        return {"loss": cast(torch.Tensor, sum(terms.values())), **terms}

    def fit(
        self,
        model: Recommender,
        evaluator: Evaluator,
        train_users: torch.Tensor,
        train_items: torch.Tensor,
        generator: torch.Generator,
        on_epoch: EpochCallback | None = None,
        loss: Loss | None = None,
        sampler: NegativeSampler | None = None,
        checkpoint: Path | None = None,
        on_resume: ResumeCallback | None = None,
        parallel: DataParallel | None = None,
        stop: StopRequest | None = None,
    ) -> FitResult:
        """Train ``model`` in place and leave it with its best validation weights.

        ``loss`` defaults to :class:`BPRLoss`, ``sampler`` to one uniform
        negative per positive. With ``checkpoint`` and ``checkpoint_every``
        the state after every such epoch is written there
        (:mod:`gnnrec.train.checkpoint`); with ``resume`` and an existing
        checkpoint, training continues after its epoch and ``on_resume``
        receives the restored history (to rewrite per-epoch logs).

        With ``stop`` (e.g. :meth:`StopSignals.requested`), a stop request
        seen between two steps writes ``checkpoint`` and raises
        :class:`~gnnrec.train.preemption.TrainingInterrupted`: mid-epoch, the
        checkpoint holds the state at the start of that epoch (kept in memory
        for this), so a resumed run replays the epoch and ends exactly as an
        uninterrupted one.

        A non-finite or exploding loss or a non-finite gradient
        (``divergence_ratio``) raises :class:`~gnnrec.errors.TrainingDiverged`
        before the optimiser applies the step; the model is left with the
        best validated weights, and ``checkpoint`` (when given) then holds
        them as its weights.

        With ``parallel`` (one process of a data-parallel run,
        :mod:`gnnrec.train.distributed`) each step's batch is split across
        the ranks and the gradients are averaged before the Adam step; every
        rank validates (identical weights, identical metrics) and all follow
        rank 0's early-stopping decision; only rank 0 calls ``on_epoch`` /
        ``on_resume`` and writes the checkpoint. Stop requests are then
        honoured at the end of an epoch (all ranks agree on them there).
        """
        device = train_users.device
        main = parallel is None or parallel.is_main
        part = self.select_on
        monitor_key = f"{part}/{self.monitor}"
        validate = len(evaluator.split.part(part)) > 0
        if not validate:
            log.warning(
                "the validation part is empty: training all %d epochs without early "
                "stopping and keeping the last weights",
                self.epochs,
            )
        elif part == "test":
            log.warning(
                "train.select_on=test: the TEST part picks the epoch (the NGCF/LightGCN "
                "papers' protocol); its test results are optimistic, use it only to "
                "reproduce published tables"
            )
        if not model.trainable:
            result = evaluator.evaluate(model.scorer(), part).metrics
            if on_epoch and main:
                on_epoch(0, result)
            return FitResult(0, result.get(monitor_key, math.nan), 0, [result])

        loss = loss if loss is not None else BPRLoss()
        if sampler is None:
            pairs = TrainingPairs(train_users, train_items, model.num_users, model.num_items)
            sampler = UniformSampler(pairs)
        check_loss_and_sampler(loss, sampler)
        # fused: one pass per parameter with an exact square root. With the per-op
        # path, on the project's VM, Adam's denominator came out at ~12-bit accuracy
        # on some OpenMP threads of some processes (most likely MKL's vector sqrt), so
        # two identical runs differed after the first step (about 1 run in 3; fused:
        # 8 of 8 identical). Fused is also the faster step.
        fused = device.type in ("cpu", "cuda")
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, fused=fused)
        stopper = EarlyStopping(self.patience)
        guard = DivergenceGuard(self.divergence_ratio)
        n = len(train_users)
        steps = math.ceil(n / self.batch_size)
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        epoch, first, before, stopped = 0, 1, 0.0, False
        if self.resume and checkpoint is not None and checkpoint.is_file():
            state = load_checkpoint(checkpoint)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            restore_random_states(state["random"], generator)
            stopper.best, stopper.best_epoch = state["best"], state["best_epoch"]
            stopper.bad_rounds, stopper.best_state = state["bad_rounds"], state["best_state"]
            history, epoch, stopped = list(state["history"]), state["epoch"], state["stopped"]
            first, before = epoch + 1, state["train_time_s"]
            guard.reference = state.get("divergence_reference")
            log.info("resumed from %s after epoch %d", checkpoint, epoch)
            if on_resume and main:
                on_resume(list(history))
        resumed_from = first - 1

        def snapshot(epoch: int, stop: bool, copy_tensors: bool) -> dict[str, Any]:
            """The checkpoint of the state after ``epoch`` (tensors cloned when the
            state is kept while training goes on)."""
            state = {
                "epoch": epoch,
                "stopped": stop,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "random": random_states(generator),
                "best": stopper.best,
                "best_epoch": stopper.best_epoch,
                "bad_rounds": stopper.bad_rounds,
                "best_state": stopper.best_state,
                "history": list(history),
                "train_time_s": before + time.perf_counter() - start,
                "divergence_reference": guard.reference,
            }
            if copy_tensors:
                state["model"] = copy.deepcopy(state["model"])
                state["optimizer"] = copy.deepcopy(state["optimizer"])
            return state

        def interrupted(signum: int, state: dict[str, Any]) -> TrainingInterrupted:
            signum = int(signum)  # a plain int in the checkpoint, not a signal.Signals
            written = checkpoint is not None and main
            if written:
                save_checkpoint(cast(Path, checkpoint), {**state, "interrupted_by": signum})
            log.warning(
                "stop requested (signal %d): checkpoint after epoch %d", signum, state["epoch"]
            )
            return TrainingInterrupted(signum, int(state["epoch"]), written)

        def diverged(epoch: int, step: int, problem: str) -> TrainingDiverged:
            stopper.restore(model)
            kept = (
                f"the best weights seen (epoch {stopper.best_epoch}, {monitor_key} "
                f"{stopper.best:.4f}) are kept"
                if stopper.best_state is not None
                else "no weights were validated before it, so none are kept"
            )
            if checkpoint is not None and main and stopper.best_state is not None:
                state = snapshot(epoch - 1, True, copy_tensors=False)
                save_checkpoint(checkpoint, {**state, "diverged": problem})
                kept += f" in {checkpoint} (init_from= starts a new run from them)"
            message = (
                f"training diverged at epoch {epoch}, step {step} of {steps}: {problem}; "
                f"likely cause: {likely_cause(self.lr * self.lr_decay ** (epoch - 1), problem)}; "
                f"{kept}"
            )
            best = stopper.best if stopper.best_state is not None else math.nan
            return TrainingDiverged(message, epoch, step, stopper.best_epoch, best)

        bar = tqdm(
            initial=resumed_from,
            total=self.epochs,
            desc="training",
            unit="epoch",
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        keep_epoch_start = stop is not None and checkpoint is not None and parallel is None
        try:
            for epoch in range(first, self.epochs + 1 if not stopped else first):
                # the state a stop request in the middle of this epoch goes back to
                epoch_start = (
                    snapshot(epoch - 1, False, copy_tensors=True) if keep_epoch_start else None
                )
                model.train()
                t0 = time.perf_counter()
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * self.lr_decay ** (epoch - 1)
                model.start_epoch(generator)
                perm = torch.randperm(n, device=device, generator=generator)
                totals: dict[str, float] = {}
                grad_norms = 0.0
                for step in range(steps):
                    if (
                        epoch_start is not None
                        and stop is not None
                        and (signum := stop()) is not None
                    ):
                        raise interrupted(signum, epoch_start)
                    idx = perm[step * self.batch_size : (step + 1) * self.batch_size]
                    users, pos = train_users[idx], train_items[idx]
                    shard = parallel.shard(len(idx)) if parallel is not None else None
                    terms = self.step_terms(model, loss, sampler, users, pos, generator, shard)
                    total = terms["loss"]
                    values = {key: float(value.detach()) for key, value in terms.items()}
                    if parallel is None and (problem := guard.loss_problem(values["loss"])):
                        raise diverged(epoch, step + 1, problem)
                    optimizer.zero_grad(set_to_none=True)
                    total.backward()
                    weight = 1.0
                    if parallel is not None and shard is not None:
                        weight = shard.weight
                        parallel.all_reduce_gradients(model.parameters(), weight)
                    norm = gradient_norm(model.parameters())
                    if problem := guard.gradient_problem(norm):
                        raise diverged(epoch, step + 1, problem)
                    optimizer.step()
                    grad_norms += norm
                    for key, value in values.items():
                        totals[key] = totals.get(key, 0.0) + value * weight
                if parallel is not None:
                    totals = parallel.sum_over_ranks(totals)
                row: dict[str, float] = {f"train/{k}": v / steps for k, v in totals.items()}
                if parallel is not None and (problem := guard.loss_problem(row["train/loss"])):
                    raise diverged(
                        epoch, steps, problem.replace("the loss", "the epoch's mean loss")
                    )
                row["train/grad_norm"] = grad_norms / steps
                row["train/epoch_time_s"] = time.perf_counter() - t0
                row["train/lr"] = optimizer.param_groups[0]["lr"]
                stop_now = False
                if validate and (epoch % self.eval_every == 0 or epoch == self.epochs):
                    model.eval()
                    row.update(evaluator.evaluate(model.scorer(), part).metrics)
                    if monitor_key not in row:
                        known = sorted(k.split("/", 1)[1] for k in row if k.startswith(f"{part}/"))
                        raise ConfigError(
                            f"train.monitor={self.monitor!r} is not a validation metric; "
                            f"choose one of: {', '.join(known)}"
                        )
                    stop_now = stopper.step(row[monitor_key], epoch, model)
                row["train/elapsed_s"] = before + time.perf_counter() - start
                row["epoch"] = epoch
                history.append(row)
                bar.update(1)
                bar.set_postfix(
                    loss=f"{row['train/loss']:.4f}",
                    best=f"{stopper.best:.4f}" if stopper.best_state is not None else "-",
                )
                if on_epoch and main:
                    on_epoch(epoch, row)
                signum = stop() if stop is not None else None
                if parallel is not None:
                    stop_now = parallel.agree(stop_now)
                    signum = parallel.agree_signal(signum)
                last = stop_now or epoch == self.epochs
                if signum is not None and not last:
                    raise interrupted(signum, snapshot(epoch, False, copy_tensors=False))
                if (
                    checkpoint is not None
                    and main
                    and self.checkpoint_every
                    and (epoch % self.checkpoint_every == 0 or last)
                ):
                    save_checkpoint(checkpoint, snapshot(epoch, stop_now, copy_tensors=False))
                if stop_now:
                    log.info(
                        "early stop at epoch %d (best %s=%.4f at epoch %d)",
                        epoch,
                        self.monitor,
                        stopper.best,
                        stopper.best_epoch,
                    )
                    break
        finally:
            bar.close()
        stopper.restore(model)
        model.eval()
        return FitResult(
            best_epoch=stopper.best_epoch if validate else epoch,
            best_value=stopper.best if validate else math.nan,
            epochs_run=epoch,
            history=history,
            train_time_s=before + time.perf_counter() - start,
            resumed_from=resumed_from,
        )


def check_loss_and_sampler(loss: Loss, sampler: NegativeSampler) -> None:
    """Fail before training when the sampler does not give the loss what it needs."""
    if sampler.num_negatives < loss.min_negatives:
        raise ConfigError(
            f"loss={loss.name} needs at least {loss.min_negatives} sampled negative(s) per "
            f"positive, but sampler={sampler.name} draws sampler.num_negatives="
            f"{sampler.num_negatives}; set sampler.num_negatives={loss.min_negatives} or more"
        )
