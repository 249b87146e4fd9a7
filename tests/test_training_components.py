"""The trainer combines loss, sampler and model-declared terms; the CLI checks they fit."""

from __future__ import annotations

import json

import pytest
import torch
from torch import Tensor

from gnnrec.data.split import temporal_split
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.losses import BPRLoss, SoftmaxLoss
from gnnrec.models import MF
from gnnrec.sampling import TrainingPairs, UniformSampler
from gnnrec.train.loop import Trainer
from tests.test_cli_train import gnnrec_train


class RecordingMF(MF):
    """MF with an auxiliary term (the mean user-embedding norm) and an epoch counter."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epochs_started = 0

    def start_epoch(self, generator: torch.Generator) -> None:
        self.epochs_started += 1

    def auxiliary_losses(self, users: Tensor, pos: Tensor, neg: Tensor, generator) -> dict:
        return {"aux": 0.5 * self.user_emb.weight.index_select(0, users).norm(dim=1).mean()}


def test_step_sums_loss_l2_and_auxiliary_terms(tiny_dataset):
    split = temporal_split(tiny_dataset)
    pairs = TrainingPairs.from_split(split)
    torch.manual_seed(0)
    model = RecordingMF(tiny_dataset.num_users, tiny_dataset.num_items, embedding_dim=4)
    trainer = Trainer(epochs=1, reg_weight=0.1, progress=False)
    users, pos = pairs.users[:5], pairs.items[:5]
    terms = trainer.step_terms(
        model, BPRLoss(), UniformSampler(pairs, 2), users, pos, torch.Generator().manual_seed(0)
    )
    assert set(terms) == {"loss", "bpr", "reg", "aux"}
    total = terms["bpr"] + terms["reg"] + terms["aux"]
    assert terms["loss"].item() == pytest.approx(total.item(), rel=1e-6)
    # L2: 0.1 / 2 / B * (||e_u||^2 + ||e_i+||^2 + sum over 2 negatives ||e_j||^2)
    gen = torch.Generator().manual_seed(0)
    neg = UniformSampler(pairs, 2).sample(users, pos, gen).reshape(-1)
    expected = (
        model.user_emb.weight[users].pow(2).sum()
        + model.item_emb.weight[pos].pow(2).sum()
        + model.item_emb.weight[neg].pow(2).sum()
    )
    assert terms["reg"].item() == pytest.approx(0.1 * 0.5 * expected.item() / 5, rel=1e-5)


def test_fit_calls_start_epoch_once_per_epoch_and_logs_every_term(tiny_dataset):
    split = temporal_split(tiny_dataset)
    pairs = TrainingPairs.from_split(split)
    model = RecordingMF(tiny_dataset.num_users, tiny_dataset.num_items, embedding_dim=4)
    evaluator = Evaluator(split, ks=[4])
    fit = Trainer(epochs=3, batch_size=8, patience=10, monitor="recall@4", progress=False).fit(
        model,
        evaluator,
        pairs.users,
        pairs.items,
        torch.Generator().manual_seed(0),
        loss=SoftmaxLoss(),
        sampler=UniformSampler(pairs, 4),
    )
    assert model.epochs_started == 3 == fit.epochs_run
    for row in fit.history:
        assert {"train/loss", "train/softmax", "train/reg", "train/aux"} <= set(row)
        parts = row["train/softmax"] + row["train/reg"] + row["train/aux"]
        assert row["train/loss"] == pytest.approx(parts, rel=1e-5)


def test_cli_trains_with_a_chosen_loss_and_sampler(tmp_path):
    gnnrec_train(
        "loss=softmax",
        "sampler=in_category",
        "sampler.num_negatives=4",
        "train.epochs=2",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (results["loss"], results["sampler"]) == ("SoftmaxLoss", "InCategorySampler")
    rows = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert "train/softmax" in json.loads(rows[0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model=mostpop", "loss=softmax"],
            "model=mostpop is not trained, so 'loss=softmax' does not apply",
        ),
        (
            ["sampler=in_category", "~dataset.categories"],
            "sampler=in_category needs item categories, but ml-100k has none",
        ),
        (
            ["sampler.num_negatives=0"],
            "loss=bpr needs at least 1 sampled negative(s) per positive",
        ),
    ],
)
def test_cli_rejects_options_that_do_not_fit(train_here, overrides, message, tmp_path):
    proc = train_here(*overrides, "logger=none", "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gnnrec-train: error")]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_split_with_nothing_to_test_stops_before_training(tmp_path):
    """30 users with one interaction each: a per-user split keeps all of them in train."""
    rows = ["user_id\titem_id\trating\ttimestamp"]
    rows += [f"u{u}\ti{u % 7}\t5\t{1000 + u}" for u in range(30)]
    (tmp_path / "log.tsv").write_text("\n".join(rows) + "\n")
    proc = gnnrec_train(
        f"dataset.root={tmp_path}",
        "dataset.interactions.file=log.tsv",
        "~dataset.categories",
        "~dataset.item_text",
        "logger=none",
        "hydra.run.dir=out",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gnnrec-train: error")]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "leaves the test part empty (30 train, 0 validation interactions" in lines[0]
    assert "no user of ml-100k has more than 1" in lines[0] and "dataset.kcore" in lines[0]
    assert not (tmp_path / "out" / "results.json").exists()
    assert not (tmp_path / "out" / "metrics.jsonl").exists()  # stopped before training
