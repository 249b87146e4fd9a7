"""Every config in conf/ composes, and every model/trainer/logger config builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gnnrec.cli.train import build_model
from gnnrec.data.split import temporal_split
from gnnrec.models.base import Recommender
from gnnrec.train.loop import Trainer
from tests.conftest import with_model_data

CONF = Path(__file__).resolve().parents[1] / "conf"


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_train(*overrides: str):
    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def test_conf_is_the_installed_config_package():
    import gnnrec.conf

    assert Path(gnnrec.conf.__file__).resolve().parent == CONF


@pytest.mark.parametrize("model", choices("model"))
def test_every_model_config_builds_a_model(model, tiny_dataset):
    cfg = compose_train(f"model={model}")
    assert cfg.model.name == model
    split = temporal_split(with_model_data(tiny_dataset, model))
    net = build_model(cfg, split, device="cpu")
    assert isinstance(net, Recommender)
    scores = net.scorer()(torch.tensor([0, 1]))
    assert scores.shape == (2, tiny_dataset.num_items)


@pytest.mark.parametrize(
    "group",
    ["train", "eval", "logger", "split", "dataset", "loss", "sampler"],
)
def test_every_choice_of_each_group_composes(group):
    for choice in choices(group):
        cfg = compose_train(f"{group}={choice}")
        assert OmegaConf.select(cfg, group) is not None


def test_trainer_config_builds():
    cfg = compose_train()
    trainer = instantiate(cfg.train, _convert_="all")
    assert isinstance(trainer, Trainer)
    assert trainer.monitor == "recall@20" and trainer.lr == cfg.train.lr


def test_default_experiment_is_lightgcn_on_ml100k():
    cfg = compose_train()
    assert (cfg.model.name, cfg.dataset.name, cfg.logger.mode) == ("lightgcn", "ml-100k", "offline")
    assert list(cfg.eval.ks) == [10, 20]
    assert cfg.device == "auto"


def test_schemas_type_the_runners_keys_and_match_the_shipped_defaults():
    from gnnrec.cli.schema import EvalSchema, RunSchema, TrainSchema, validate

    cfg = validate(compose_train("train.epochs=12", "eval.rerank_pool=50"))
    assert cfg.train.epochs == 12 and isinstance(cfg.train.epochs, int)
    shipped = compose_train()
    # every shipped key has a schema field and every field a shipped value
    assert set(shipped.train) == set(TrainSchema.__dataclass_fields__)
    assert set(shipped.eval) == set(EvalSchema.__dataclass_fields__)
    assert set(RunSchema.__dataclass_fields__) <= set(shipped)


def test_every_model_has_a_search_space_and_every_space_a_model():
    assert choices("search") == choices("model")


@pytest.mark.parametrize("model", choices("model"))
def test_every_search_space_names_keys_of_its_models_config(model):
    from gnnrec.tune.space import SearchSpace, check_keys

    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        cfg = compose(config_name="tune", overrides=[f"model={model}"])
    space = SearchSpace.from_spec(
        OmegaConf.to_container(cfg.search, resolve=True), f"conf/search/{model}.yaml"
    )
    check_keys(space, OmegaConf.to_container(cfg, resolve=False))
    if model != "mostpop":
        assert len(space) >= 2
    if model not in ("mostpop", "itemknn", "gfcf"):  # trained: learning rate and L2 are tuned
        assert {"train.lr", "train.reg_weight"} <= set(space.distributions)


@pytest.mark.parametrize("pruner", choices("pruner"))
def test_every_pruner_builds(pruner):
    import optuna

    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        cfg = compose(config_name="tune", overrides=[f"pruner={pruner}"])
    assert isinstance(instantiate(cfg.tune.pruner), optuna.pruners.BasePruner)


@pytest.mark.parametrize("launcher", choices("launcher"))
def test_every_launcher_composes(launcher):
    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        cfg = compose(
            config_name="train", overrides=[f"launcher={launcher}"], return_hydra_config=True
        )
    expected = {"local": "BasicLauncher", "joblib": "JoblibLauncher"}.get(launcher, "Launcher")
    assert cfg.hydra.launcher._target_.endswith(expected)


@pytest.mark.parametrize("experiment", choices("experiment"))
def test_every_experiment_composes_and_builds_its_model_config(experiment):
    cfg = compose_train(f"experiment={experiment}")
    assert cfg.model.name and cfg.dataset.name
    assert cfg.eval.save_per_user  # experiments keep per-user vectors for significance tests
