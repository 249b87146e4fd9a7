"""Divergence: a blown-up loss or gradient stops training with the epoch, the
cause and the best weights kept."""

from __future__ import annotations

import math

import pytest
import torch

from gnnrec.data.split import temporal_split
from gnnrec.errors import ConfigError, TrainingDiverged
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.graph.build import build_graph
from gnnrec.losses.bpr import BPRLoss
from gnnrec.models.lightgcn import LightGCN
from gnnrec.sampling import TrainingPairs
from gnnrec.train.checkpoint import initial_weights, load_checkpoint
from gnnrec.train.divergence import DivergenceGuard, gradient_norm, likely_cause
from gnnrec.train.loop import Trainer


def test_non_finite_losses_diverge_at_once():
    guard = DivergenceGuard(ratio=None)
    assert guard.loss_problem(math.nan) == "the loss became nan"
    assert guard.loss_problem(math.inf) == "the loss became inf"
    assert guard.loss_problem(1e30) is None  # no ratio: only non-finite values count


def test_a_loss_far_above_its_first_value_diverges():
    guard = DivergenceGuard(ratio=1000.0)
    assert guard.loss_problem(0.69) is None  # first step: reference max(1, 0.69) = 1
    assert guard.reference == 1.0
    assert guard.loss_problem(999.0) is None  # 999 <= 1000 x 1
    problem = guard.loss_problem(1001.0)
    assert problem is not None and "1001" in problem and "train.divergence_ratio" in problem
    big = DivergenceGuard(ratio=10.0)
    big.loss_problem(-7.6)  # a loss may be negative (DirectAU): reference |-7.6| = 7.6
    assert big.loss_problem(75.0) is None and big.loss_problem(77.0) is not None


def test_gradient_norm_is_the_l2_norm_over_every_gradient():
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(1, 1))
    c = torch.nn.Parameter(torch.zeros(3))  # no gradient: ignored
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([[4.0]])
    assert gradient_norm([a, b, c]) == pytest.approx(5.0)  # sqrt(3^2 + 4^2)
    b.grad = torch.tensor([[math.nan]])
    assert math.isnan(gradient_norm([a, b]))
    assert DivergenceGuard.gradient_problem(math.nan) is not None
    assert DivergenceGuard.gradient_problem(5.0) is None


def test_likely_cause_names_a_high_learning_rate():
    assert "train.lr=1e+06 is far above" in likely_cause(1e6, "the loss became nan")
    assert "non-finite gradient" in likely_cause(1e-3, "a gradient became nan")
    assert "lower train.lr" in likely_cause(1e-3, "the loss became nan")


def test_divergence_ratio_must_exceed_one():
    with pytest.raises(ConfigError, match=r"train\.divergence_ratio must be a number > 1"):
        Trainer(divergence_ratio=0.5)
    Trainer(divergence_ratio=None)  # off: only non-finite values stop training


class NanAfter(BPRLoss):
    """BPR whose value becomes NaN from its ``n``-th call on."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self, batch):
        self.calls += 1
        terms = super().__call__(batch)
        if self.calls >= self.n:
            terms["bpr"] = terms["bpr"] * math.nan
        return terms


def setup(tiny_dataset, **trainer):
    torch.manual_seed(0)
    split = temporal_split(tiny_dataset)
    model = LightGCN.from_graph(build_graph(split), embedding_dim=8, num_layers=2)
    pairs = TrainingPairs.from_split(split)
    options = {"epochs": 10, "batch_size": 8, "monitor": "recall@4", "progress": False}
    return model, pairs, Trainer(**{**options, **trainer}), Evaluator(split, ks=[4])


def test_a_nan_loss_stops_training_and_keeps_the_best_weights(tiny_dataset, tmp_path):
    model, pairs, trainer, evaluator = setup(tiny_dataset, checkpoint_every=1, patience=100)
    steps = math.ceil(len(pairs.users) / trainer.batch_size)  # 4 steps per epoch
    loss = NanAfter(3 * steps + 2)  # the second step of epoch 4
    with pytest.raises(TrainingDiverged) as caught:
        trainer.fit(
            model,
            evaluator,
            pairs.users,
            pairs.items,
            torch.Generator().manual_seed(0),
            loss=loss,
            checkpoint=tmp_path / "ckpt.pt",
        )
    err = caught.value
    assert (err.epoch, err.step) == (4, 2)
    assert f"training diverged at epoch 4, step 2 of {steps}: the loss became nan" in str(err)
    assert 1 <= err.best_epoch <= 3 and math.isfinite(err.best_value)
    assert f"best weights seen (epoch {err.best_epoch}" in str(err)
    # the model holds the best weights, and so does the checkpoint (init_from reads them)
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert state["diverged"] == "the loss became nan"
    for key, value in model.state_dict().items():
        assert torch.isfinite(value).all()
        assert torch.equal(value, state["best_state"][key])
        assert torch.equal(initial_weights(tmp_path / "ckpt.pt")[key], value)


def test_a_huge_learning_rate_is_named_as_the_cause(tiny_dataset):
    model, pairs, trainer, evaluator = setup(tiny_dataset, lr=1e6)
    with pytest.raises(TrainingDiverged) as caught:
        trainer.fit(model, evaluator, pairs.users, pairs.items, torch.Generator().manual_seed(0))
    assert caught.value.epoch == 1 and caught.value.best_epoch == 0
    message = str(caught.value)
    assert "learning rate train.lr=1e+06 is far above" in message
    assert "no weights were validated before it" in message


def test_the_gradient_norm_is_logged_every_epoch(tiny_dataset):
    model, pairs, trainer, evaluator = setup(tiny_dataset, epochs=2)
    fit = trainer.fit(model, evaluator, pairs.users, pairs.items, torch.Generator().manual_seed(0))
    assert all(row["train/grad_norm"] > 0 for row in fit.history)
