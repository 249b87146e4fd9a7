"""The foundation's quality bar on the bundled MovieLens-100K (slow: ~2 minutes)."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from gnnrec.cli.train import build_model
from gnnrec.evaluation.evaluator import Evaluator


def _test_metrics(model_name: str) -> dict[str, float]:
    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        cfg = compose(
            config_name="train", overrides=[f"model={model_name}", "train.progress=false"]
        )
    torch.manual_seed(cfg.seed)
    dataset = instantiate(cfg.dataset, _convert_="all")
    split = instantiate(cfg.split, _convert_="all", _partial_=True)(dataset=dataset)
    model = build_model(cfg, split, device="cpu")
    evaluator = Evaluator(split, ks=list(cfg.eval.ks))
    trainer = instantiate(cfg.train, _convert_="all")
    users = torch.from_numpy(dataset.users[split.train])
    items = torch.from_numpy(dataset.items[split.train])
    trainer.fit(model, evaluator, users, items, torch.Generator().manual_seed(cfg.seed))
    return evaluator.evaluate(model.scorer(), "test").metrics


@pytest.mark.slow
def test_lightgcn_beats_mf_and_mostpop_on_the_default_split():
    results = {name: _test_metrics(name) for name in ("mostpop", "mf", "lightgcn")}
    for metric in ("test/recall@20", "test/ndcg@20"):
        assert results["lightgcn"][metric] > results["mf"][metric] > results["mostpop"][metric]
