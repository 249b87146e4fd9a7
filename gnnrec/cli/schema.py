"""Typed schemas of the runner's own config keys, checked before any work.

Hydra composes ``conf/`` without types; these dataclasses give the keys the
runner itself reads (the top level, ``train``, ``eval``) their types, so
that ``train.batch_size=1.5``, ``seed=abc`` or a misspelt
``eval.save_topks=true`` stop the run with one line naming the key, the
value and the expected type instead of failing later with a traceback.
Models, losses, samplers and datasets check their own arguments when they
are built (their keys differ per choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from gnnrec.errors import ConfigError

MAX_SEED = 2**32 - 1
"""The largest seed: numpy's generators take seeds in [0, 2^32)."""


@dataclass
class RunSchema:
    """Top-level keys of ``conf/train.yaml``."""

    seed: int = 2026
    device: str = "auto"
    cache: bool = True
    cache_dir: str | None = None
    download: bool = True
    target_behavior: str | None = None
    target_behavior_mask: str = "target"
    target_domain: str | None = None
    tune_malloc: bool = True
    init_from: str | None = None


@dataclass
class TrainSchema:
    """``train`` (``conf/train/*.yaml``): the :class:`~gnnrec.train.loop.Trainer`."""

    _target_: str = "gnnrec.train.Trainer"
    epochs: int = 300
    batch_size: int = 2048
    lr: float = 0.005
    lr_decay: float = 1.0
    reg_weight: float = 1e-4
    eval_every: int = 1
    patience: int = 20
    monitor: str = "recall@20"
    progress: bool = True
    checkpoint_every: int = 10
    resume: bool = False
    select_on: str = "valid"
    divergence_ratio: float | None = 1000.0


@dataclass
class SampledSchema:
    """``eval.sampled``: the papers' sampled protocol (off with ``negatives: 0``)."""

    negatives: int = 0
    sampler: str = "uniform"
    seed: int = 2040
    ks: list[int] = field(default_factory=lambda: [10])
    parts: list[str] = field(default_factory=lambda: ["test"])


@dataclass
class EvalSchema:
    """``eval`` (``conf/eval/*.yaml``): the evaluator and the re-ranking settings."""

    ks: list[int] = field(default_factory=lambda: [10, 20])
    memory_budget_mb: float = 1024.0
    user_hist_bins: list[int] = field(default_factory=lambda: [5, 20])
    item_pop_quantiles: list[float] = field(default_factory=lambda: [0.5, 0.8])
    slice_parts: list[str] = field(default_factory=lambda: ["test"])
    tail_ratio: float = 0.2
    calibration_alpha: float = 0.01
    save_per_user: bool = False
    save_topk: bool = False
    rerank: Any = None  # null, a method name or a list of them (checked by the runner)
    rerank_lambda: Any = field(default_factory=lambda: [0.0, 0.2, 0.5, 0.8])
    rerank_pool: int = 100
    monitor_users: Any = None  # null or a positive integer (checked by the runner)
    sampled: SampledSchema = field(default_factory=SampledSchema)


SECTIONS: dict[str, type] = {"train": TrainSchema, "eval": EvalSchema}


def _typed(schema: type, node: Any, where: str) -> DictConfig:
    try:
        return cast(DictConfig, OmegaConf.merge(OmegaConf.structured(schema), node))
    except ConfigKeyError as err:
        key = f"{where}{err.full_key}"
        known = ", ".join(f"{where}{k}" for k in OmegaConf.structured(schema) if k != "_target_")
        raise ConfigError(f"unknown key {key}; expected one of: {known}") from None
    except ValidationError as err:
        raise ConfigError(f"{where}{err.full_key}={err.value!r}: {_first_line(err)}") from None
    except OmegaConfBaseException as err:  # e.g. a mapping where a number belongs
        raise ConfigError(f"{where}{err.full_key}: {_first_line(err)}") from None


def _first_line(err: OmegaConfBaseException) -> str:
    """OmegaConf's reason without its multi-line context (``full_key``, ``object_type``)."""
    return str(getattr(err, "msg", None) or err).strip().splitlines()[0]


def validate(cfg: DictConfig) -> DictConfig:
    """``cfg`` with the runner's keys type-checked and converted (``"12"`` → 12).

    Raises:
        ConfigError: one line naming the key, the value and the expected type
            (or the unknown key and the known ones).
    """
    top = {k: cfg[k] for k in RunSchema.__dataclass_fields__ if k in cfg}
    typed_top = _typed(RunSchema, top, "")
    if "seed" in top and not 0 <= typed_top.seed <= MAX_SEED:
        raise ConfigError(
            f"seed={typed_top.seed}: expected an integer from 0 to {MAX_SEED} "
            "(the range numpy and torch both accept)"
        )
    sections = {
        name: _typed(schema, cfg[name], f"{name}.")
        for name, schema in SECTIONS.items()
        if cfg.get(name) is not None
    }
    with open_dict(cfg):
        for key in top:
            cfg[key] = typed_top[key]
        for name, typed in sections.items():
            cfg[name] = OmegaConf.to_container(typed)
    return cfg
