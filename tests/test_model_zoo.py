"""Every model config: builds, has the right shapes, trains every parameter,
is deterministic on CPU, combines with every loss and sampler, and runs from
``gnnrec-train``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from gnnrec.cli.common import build
from gnnrec.cli.train import build_model
from gnnrec.data.split import temporal_split
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.sampling import TrainingPairs
from gnnrec.train.loop import Trainer
from tests.conftest import with_model_data
from tests.test_cli_train import gnnrec_train, run_dirs

CONF = Path(__file__).resolve().parents[1] / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
TRAINING_FREE = {"mostpop", "itemknn", "gfcf"}
TRAINED = [m for m in MODELS if m not in TRAINING_FREE]
NEEDS_DOMAINS = {"crossdomain"}
"""Models that need a per-interaction domain column: not run on the bundled ml-100k
(tests/test_crossdomain.py runs them on its pseudo-domains)."""


def compose_train(*overrides: str):
    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def build_on(dataset, *overrides: str):
    cfg = compose_train(*overrides)
    dataset = with_model_data(dataset, cfg.model.name)
    split = temporal_split(dataset)
    torch.manual_seed(0)
    return cfg, split, build_model(cfg, split, torch.device("cpu"))


def test_the_zoo_is_complete():
    expected = {
        "mostpop", "itemknn", "mf", "gfcf",  # baselines
        "lightgcn", "ngcf", "gcn", "sage",  # stacked convolutions
        "gat", "transformer",  # attention
        "rgcn", "hgt",  # heterogeneous
        "sgl", "simgcl", "xsimgcl",  # self-supervised
        "dgcn", "dgrec", "catgraph",  # diversity-aware and category graph
        "mblightgcn", "cascade", "textgcn", "sasrec", "seqgcn", "crossdomain",  # side signals
    }  # fmt: skip
    assert expected <= set(MODELS)


@pytest.mark.parametrize("name", TRAINED)
def test_shapes_and_every_parameter_gets_a_gradient(name, tiny_dataset):
    cfg, split, model = build_on(tiny_dataset, f"model={name}")
    assert model.trainable
    model.train()
    gen = torch.Generator().manual_seed(0)
    model.start_epoch(gen)
    pairs = TrainingPairs.from_split(split)
    loss = build(cfg.loss, "loss")
    sampler = build(cfg.sampler, "sampler", data=pairs)
    users, items = model()
    assert users.shape[0] == tiny_dataset.num_users and items.shape[0] == tiny_dataset.num_items
    assert users.shape[1] == items.shape[1]
    terms = Trainer(progress=False).step_terms(model, loss, sampler, pairs.users, pairs.items, gen)
    terms["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"{name}: no gradient for {missing}"


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_metrics_on_cpu(name, tiny_dataset):
    def once() -> dict:
        cfg, split, model = build_on(tiny_dataset, f"model={name}")
        pairs = TrainingPairs.from_split(split)
        evaluator = Evaluator(split, ks=[4])
        fit = Trainer(epochs=2, batch_size=8, monitor="recall@4", progress=False).fit(
            model,
            evaluator,
            pairs.users,
            pairs.items,
            torch.Generator().manual_seed(0),
            loss=build(cfg.loss, "loss"),
            sampler=build(cfg.sampler, "sampler", data=pairs),
        )
        return {**fit.history[-1], **evaluator.evaluate(model.scorer(), "test").metrics}

    first, second = once(), once()
    for clock in ("train/epoch_time_s", "train/elapsed_s"):  # wall clocks differ run to run
        first.pop(clock, None)
        second.pop(clock, None)
    assert first.keys() == second.keys()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


@pytest.mark.parametrize("name", TRAINED)
@pytest.mark.parametrize(
    "components",
    [
        ("loss=softmax", "sampler=in_category", "sampler.num_negatives=2"),
        ("loss=directau", "sampler.num_negatives=0"),
        ("loss=bpr", "sampler=hard"),
        ("loss=bpr", "sampler=cross_category"),
        ("loss=bpr", "sampler=popularity"),
    ],
)
def test_every_model_trains_with_every_loss_and_sampler(name, components, tiny_dataset):
    cfg, split, model = build_on(tiny_dataset, f"model={name}", *components)
    pairs = TrainingPairs.from_split(split)
    fit = Trainer(epochs=1, batch_size=16, monitor="recall@4", progress=False).fit(
        model,
        Evaluator(split, ks=[4]),
        pairs.users,
        pairs.items,
        torch.Generator().manual_seed(0),
        loss=build(cfg.loss, "loss"),
        sampler=build(cfg.sampler, "sampler", data=pairs),
    )
    row = fit.history[0]
    assert torch.isfinite(torch.tensor(row["train/loss"]))
    loss_name = components[0].split("=")[1]
    expected = {"softmax": "softmax", "directau": "align", "bpr": "bpr"}[loss_name]
    assert f"train/{expected}" in row


ON_ML100K = [m for m in MODELS if m not in NEEDS_DOMAINS]


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_every_model_runs_from_gnnrec_train(tmp_path):
    """One multirun over the whole zoo on the bundled data (one epoch each)."""
    proc = gnnrec_train(
        "-m",
        f"model={','.join(ON_ML100K)}",
        "train.epochs=1",
        "logger=none",
        "train.progress=false",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    dirs = run_dirs(tmp_path / "sweep")
    assert len(dirs) == len(ON_ML100K), proc.stdout[-3000:]
    done = {}
    for d in dirs:
        results = json.loads((d / "results.json").read_text())
        done[results["model"]] = results["test/recall@20"]
    assert set(done) == set(ON_ML100K)
    assert all(0.0 <= r <= 1.0 for r in done.values())
