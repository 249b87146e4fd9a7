"""The training loop: one propagation per step, BPR on sampled triples, early stopping."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from gnnrec.errors import ConfigError
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.losses.bpr import BPRLoss
from gnnrec.models.base import Recommender
from gnnrec.sampling.uniform import UniformNegativeSampler
from gnnrec.train.early_stopping import EarlyStopping

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """What training produced: the best epoch and the history of its metrics."""

    best_epoch: int
    best_value: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    train_time_s: float = 0.0


@dataclass
class Trainer:
    """Trains a :class:`Recommender` with BPR and early stopping on validation.

    Each optimisation step runs the model's full forward once (one graph
    propagation), samples a batch of (user, positive, negative) triples on
    the device and takes an Adam step. Training interactions are visited in a
    fresh random order every epoch.

    Args:
        epochs: maximum number of epochs.
        batch_size: triples per step.
        lr: Adam learning rate.
        reg_weight: L2 weight :math:`\\lambda` of :class:`BPRLoss`.
        eval_every: validate every this many epochs.
        patience: validations without improvement before stopping.
        monitor: validation metric for early stopping and model selection.
        progress: show a progress bar per epoch.
    """

    epochs: int = 300
    batch_size: int = 2048
    lr: float = 1e-3
    reg_weight: float = 1e-4
    eval_every: int = 1
    patience: int = 10
    monitor: str = "recall@20"
    progress: bool = True

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
        if not isinstance(self.reg_weight, int | float) or self.reg_weight < 0:
            raise ConfigError(f"train.reg_weight must be >= 0, got {self.reg_weight!r}")

    def fit(
        self,
        model: Recommender,
        evaluator: Evaluator,
        train_users: torch.Tensor,
        train_items: torch.Tensor,
        generator: torch.Generator,
        on_epoch: EpochCallback | None = None,
    ) -> FitResult:
        """Train ``model`` in place and leave it with its best validation weights."""
        device = train_users.device
        monitor_key = f"valid/{self.monitor}"
        validate = len(evaluator.split.valid) > 0
        if not validate:
            log.warning(
                "the validation part is empty: training all %d epochs without early "
                "stopping and keeping the last weights",
                self.epochs,
            )
        if not model.trainable:
            result = evaluator.evaluate(model.scorer(), "valid").metrics
            if on_epoch:
                on_epoch(0, result)
            return FitResult(0, result.get(monitor_key, math.nan), 0, [result])

        sampler = UniformNegativeSampler(train_users, train_items, model.num_items)
        loss_fn = BPRLoss(self.reg_weight)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        stopper = EarlyStopping(self.patience)
        n = len(train_users)
        steps = math.ceil(n / self.batch_size)
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        epoch = 0
        bar = tqdm(
            total=self.epochs,
            desc="training",
            unit="epoch",
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        for epoch in range(1, self.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            perm = torch.randperm(n, device=device, generator=generator)
            totals = {"loss": 0.0, "bpr": 0.0, "reg": 0.0}
            for step in range(steps):
                idx = perm[step * self.batch_size : (step + 1) * self.batch_size]
                users, pos = train_users[idx], train_items[idx]
                neg = sampler.sample(users, generator)
                user_emb, item_emb = model()
                # index_select, not emb[idx]: its backward is deterministic on CPU threads
                u = user_emb.index_select(0, users)
                pos_scores = (u * item_emb.index_select(0, pos)).sum(-1)
                neg_scores = (u * item_emb.index_select(0, neg)).sum(-1)
                terms = loss_fn(pos_scores, neg_scores, model.regularization(users, pos, neg))
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                for key in totals:
                    totals[key] += float(terms[key].detach())
            row: dict[str, float] = {f"train/{k}": v / steps for k, v in totals.items()}
            if not math.isfinite(row["train/loss"]):
                raise FloatingPointError(
                    f"training loss became {row['train/loss']} at epoch {epoch}"
                )
            row["train/epoch_time_s"] = time.perf_counter() - t0
            stop = False
            if validate and (epoch % self.eval_every == 0 or epoch == self.epochs):
                model.eval()
                row.update(evaluator.evaluate(model.scorer(), "valid").metrics)
                if monitor_key not in row:
                    known = sorted(k.split("/", 1)[1] for k in row if k.startswith("valid/"))
                    raise ConfigError(
                        f"train.monitor={self.monitor!r} is not a validation metric; "
                        f"choose one of: {', '.join(known)}"
                    )
                stop = stopper.step(row[monitor_key], epoch, model)
            row["epoch"] = epoch
            history.append(row)
            bar.update(1)
            bar.set_postfix(
                loss=f"{row['train/loss']:.4f}",
                best=f"{stopper.best:.4f}" if stopper.best_state is not None else "-",
            )
            if on_epoch:
                on_epoch(epoch, row)
            if stop:
                log.info(
                    "early stop at epoch %d (best %s=%.4f at epoch %d)",
                    epoch,
                    self.monitor,
                    stopper.best,
                    stopper.best_epoch,
                )
                break
        bar.close()
        stopper.restore(model)
        model.eval()
        return FitResult(
            best_epoch=stopper.best_epoch if validate else epoch,
            best_value=stopper.best if validate else math.nan,
            epochs_run=epoch,
            history=history,
            train_time_s=time.perf_counter() - start,
        )
