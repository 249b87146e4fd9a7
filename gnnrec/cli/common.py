"""What both command-line tools do the same way: build objects from config, load data."""

from __future__ import annotations

from typing import Any, cast

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.registry import prepare_dataset
from gnnrec.data.split import Split, target_behavior_split, target_domain_split
from gnnrec.errors import ConfigError, GnnrecError

DATASET_LOADERS = ("gnnrec.data.load_dataset", "gnnrec.data.load.load_dataset")


def build(node: DictConfig, what: str, **objects: Any) -> Any:
    """Build ``node``'s ``_target_``; ``objects`` (datasets, graphs) are passed
    at call time so Hydra never tries to turn them into config. Failures that
    are not already a :class:`GnnrecError` become a :class:`ConfigError`
    naming ``what`` was being built."""
    try:
        return instantiate(node, _convert_="all", _partial_=True)(**objects)
    except Exception as err:
        cause = err.__cause__ or err
        if isinstance(cause, GnnrecError):
            raise cause from None
        raise ConfigError(f"could not build the {what} from its config: {cause}") from None


def checked(what: str, factory: Any, *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)``, with the library's argument checks
    (``ValueError``/``TypeError``) reported as a :class:`ConfigError` naming
    the config group ``what``."""
    try:
        return factory(*args, **kwargs)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{what}: {err}") from None


def load_data(cfg: DictConfig) -> InteractionDataset:
    """The configured dataset: registered downloads and the processed-data cache
    (``cfg.cache``, ``cfg.cache_dir``, ``cfg.download``) for configs of
    :func:`gnnrec.data.load_dataset`, plain instantiation otherwise."""
    try:
        spec = cast("dict[str, Any]", OmegaConf.to_container(cfg.dataset, resolve=True))
    except OmegaConfBaseException as err:
        raise ConfigError(f"dataset config: {err}") from None
    if spec.get("_target_") in DATASET_LOADERS:
        return checked(
            "dataset",
            prepare_dataset,
            spec,
            cache=bool(cfg.get("cache", True)),
            cache_dir=cfg.get("cache_dir"),
            download=bool(cfg.get("download", True)),
        )
    return build(cfg.dataset, "dataset")


def make_split(cfg: DictConfig, dataset: InteractionDataset) -> Split:
    """The configured split of ``dataset``, then the top-level targets:

    - ``target_behavior`` (e.g. ``buy``): validation and test keep only that
      behaviour's interactions, the other behaviours train, and evaluation
      masks the training items of that behaviour only
      (``target_behavior_mask: target``; ``all`` masks every training item;
      :func:`~gnnrec.data.split.target_behavior_split`);
    - ``target_domain`` (e.g. ``cloth``): validation and test keep only that
      domain's interactions and evaluation ranks only its items
      (:func:`~gnnrec.data.split.target_domain_split`).
    """
    split = build(cfg.split, "split", dataset=dataset)
    target = cfg.get("target_behavior")
    if target is not None:
        split = target_behavior_split(
            split, str(target), mask_seen=str(cfg.get("target_behavior_mask", "target"))
        )
    domain = cfg.get("target_domain")
    if domain is not None:
        split = target_domain_split(split, str(domain))
    return split
