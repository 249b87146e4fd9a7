"""``gnnrec-train``: compose a run from ``conf/``, train, evaluate, write results.

Run directory contents (``hydra.run.dir``, or one directory per job of a
multirun):

- ``config.yaml``: the resolved configuration;
- ``metrics.jsonl``: one line per epoch (losses, validation metrics);
- ``results.json``: final validation and test metrics and run facts, written
  last and atomically, so its presence marks a finished run;
- ``topk.tsv`` and ``split/{train,valid,test}.tsv`` with ``eval.save_topk=true``;
- ``error.txt`` instead of ``results.json`` when the run failed;
- ``wandb/`` with the default offline W&B logger.

Under ``torchrun`` (or as the tasks of one submitit job) every process runs
the pipeline and rank 0 alone writes these files (``docs/distributed.md``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm.contrib.logging import logging_redirect_tqdm

from gnnrec.cli.common import build, checked, load_data, make_split
from gnnrec.cli.schema import validate
from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.split import Split
from gnnrec.errors import ConfigError, GnnrecError, RunDirError, SplitError, TrainingDiverged
from gnnrec.evaluation.evaluator import EVAL_PARTS, EvalResult, Evaluator
from gnnrec.evaluation.rerank import METHODS, Rerank
from gnnrec.graph.build import build_graph
from gnnrec.logging.base import NullLogger, RunLogger
from gnnrec.logging.files import (
    append_jsonl,
    write_json_atomic,
    write_jsonl_atomic,
    write_lines_atomic,
    write_text_atomic,
)
from gnnrec.logging.run_info import device_name, git_commit, resolve_device, versions
from gnnrec.logging.rundir import (
    INTERRUPTED_NAME,
    Reuse,
    RunDirLock,
    clear_run_files,
    plan_reuse,
)
from gnnrec.losses.base import Loss
from gnnrec.models.base import Recommender, Scorer
from gnnrec.sampling.base import NegativeSampler, TrainingPairs
from gnnrec.train.allocator import tune_cpu_allocator
from gnnrec.train.checkpoint import initial_weights
from gnnrec.train.distributed import DataParallel, is_main
from gnnrec.train.loop import StopRequest
from gnnrec.train.preemption import StopSignals, TrainingInterrupted, signal_name

log = logging.getLogger("gnnrec")

RUNNER_KEYS = ("name", "graph")
"""Model-config keys read by the runner; every other key goes to the model."""


def build_model(cfg: DictConfig, split: Split, device: torch.device) -> Recommender:
    """The graph of the split's train part and the model over it, on ``device``."""
    graph_opts = dict(cfg.model.get("graph") or {})
    graph = checked("model.graph", build_graph, split, **graph_opts).to(device)
    params = OmegaConf.create(
        {
            k: v
            for k, v in cast("dict[str, Any]", OmegaConf.to_container(cfg.model)).items()
            if k not in RUNNER_KEYS
        }
    )
    return build(params, "model", graph=graph).to(device)


def check_evaluable(split: Split) -> None:
    """Stop before training when the split leaves nothing to test on.

    A per-user split of a log where every user has one or two interactions
    puts them all in train: the run would train and then report a table of
    NaN. (An empty validation part alone is fine: training then runs every
    epoch without early stopping.)
    """
    if len(split.test) > 0:
        return
    ds = split.dataset
    most = int(np.bincount(ds.users, minlength=ds.num_users).max()) if len(ds.users) else 0
    raise SplitError(
        f"split '{split.method}' leaves the test part empty ({len(split.train)} train, "
        f"{len(split.valid)} validation interactions; no user of {ds.name} has more than "
        f"{most}), so there is nothing to evaluate; expected users with enough interactions "
        "to hold some out: raise dataset.kcore (e.g. dataset.kcore=3) or choose a split "
        "that holds out across users (split=global_temporal, or split=random split.group_by=null)"
    )


def rerank_settings(eval_cfg: DictConfig, dataset: InteractionDataset) -> list[Rerank]:
    """The re-ranking settings of ``eval.rerank`` x ``eval.rerank_lambda`` (none when off).

    ``eval.rerank`` is null, a method (``mmr``, ``calibrated``) or a list of
    them; ``eval.rerank_lambda`` a number or a list in [0, 1];
    ``eval.rerank_pool`` the candidates per user, at least the largest K.
    Checked before training so that a typo does not cost a training run.
    """
    methods = eval_cfg.get("rerank")
    if methods is None:
        return []
    methods = [methods] if isinstance(methods, str) else list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(
            f"eval.rerank: unknown re-ranking method {unknown[0] if unknown else '[]'!r}; "
            f"expected null, {' or '.join(METHODS)} (or a list of them)"
        )
    lambdas = eval_cfg.get("rerank_lambda", [0.0])
    lambdas = [lambdas] if isinstance(lambdas, int | float) else list(lambdas)
    if not lambdas:
        raise ConfigError("eval.rerank_lambda: expected a number or a list of numbers in [0, 1]")
    for lam in lambdas:
        if isinstance(lam, bool) or not isinstance(lam, int | float) or not 0.0 <= lam <= 1.0:
            raise ConfigError(f"eval.rerank_lambda: {lam!r} is not a number in [0, 1]")
    pool = eval_cfg.get("rerank_pool", 100)
    k_max = max(int(k) for k in eval_cfg.ks)
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < min(k_max, dataset.num_items):
        raise ConfigError(
            f"eval.rerank_pool: {pool!r} candidates cannot fill a list of the largest K "
            f"({k_max}); expected an integer >= {k_max}"
        )
    if dataset.num_categories == 0:
        raise ConfigError(
            f"eval.rerank={methods[0]} re-ranks by item categories, and dataset "
            f"{dataset.name} has none; drop eval.rerank or choose a dataset with categories"
        )
    return [Rerank(m, float(lam), pool) for m in methods for lam in dict.fromkeys(lambdas)]


RERANK_SUMMARY = ("recall", "ndcg", "cat_coverage", "ild")
"""Metrics of the one-line summary printed per re-ranking setting."""


def rerank_line(setting: Rerank, result: EvalResult, k: int) -> str:
    """``rerank mmr@0.5 test: recall@20 0.1234 | ndcg@20 ...`` (metrics present only)."""
    cells = [
        f"{name}@{k} {result.metrics[key]:.4f}"
        for name in RERANK_SUMMARY
        if (key := f"{result.part}/{name}@{k}") in result.metrics
    ]
    return f"rerank {setting.name} {result.part}: " + " | ".join(cells)


TRAINING_GROUPS = ("loss", "sampler")
"""Config groups that only matter for trained models."""


def training_components(
    cfg: DictConfig, pairs: TrainingPairs, model: Recommender, overrides: list[str]
) -> tuple[Loss, NegativeSampler]:
    """The configured loss and sampler over the training pairs.

    A training-free model (MostPop, ItemKNN, GF-CF) with a ``loss`` or
    ``sampler`` override on the command line is a configuration error: the
    override would be silently ignored otherwise. Samplers check the data
    (categories); ``Trainer.fit`` checks that loss and sampler fit each other.
    """
    if not model.trainable:
        for item in overrides:
            key = item.lstrip("+~").split("=", 1)[0]
            if key.split(".", 1)[0] in TRAINING_GROUPS:
                raise ConfigError(
                    f"model={cfg.model.name} is not trained, so '{item}' does not apply; "
                    "drop it or choose a trained model (e.g. model=lightgcn)"
                )
    loss = build(cfg.loss, "loss")
    sampler = build(cfg.sampler, "sampler", data=pairs)
    return loss, sampler


def init_model(model: Recommender, path: str) -> None:
    """Start from another run's weights (``init_from=<run dir>/checkpoint.pt``):
    its best-validation weights, else its last; e.g. a second stage with
    another loss. The model must have the same parameters (same model, data
    and dimensions)."""
    state = initial_weights(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(
            f"init_from={path}: its weights do not fit this model ({first}); "
            "use a checkpoint of the same model, data and dimensions"
        ) from None
    log.info("weights initialised from %s", path)


def build_evaluator(
    cfg: DictConfig, split: Split, device: torch.device, slice_parts: list[str] | None = None
) -> Evaluator:
    """The :class:`Evaluator` that ``cfg.eval`` describes, over ``split``
    (``slice_parts`` overrides the config's)."""
    return Evaluator(
        split,
        ks=list(cfg.eval.ks),
        device=device,
        memory_budget_mb=float(cfg.eval.memory_budget_mb),
        user_hist_bins=list(cfg.eval.user_hist_bins),
        item_pop_quantiles=list(cfg.eval.item_pop_quantiles),
        tail_ratio=float(cfg.eval.tail_ratio),
        calibration_alpha=float(cfg.eval.calibration_alpha),
        slice_parts=list(cfg.eval.slice_parts) if slice_parts is None else slice_parts,
    )


def peak_memory(device: torch.device) -> dict[str, float]:
    """The process's peak resident memory so far (``peak_rss_mb``; on Linux and
    macOS) and, on CUDA, the peak memory torch allocated there (``peak_gpu_mb``)."""
    out: dict[str, float] = {}
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_mb"] = peak / (2**20 if sys.platform == "darwin" else 2**10)
    except (ImportError, OSError):  # no resource module (Windows)
        pass
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def sampled_results(
    cfg: DictConfig, evaluator: Evaluator, scorer: Scorer, parts: Sequence[str]
) -> dict[str, EvalResult]:
    """``eval.sampled``'s results per part (none with ``negatives: 0``)."""
    spec = cfg.eval.sampled
    if int(spec.negatives) == 0:
        return {}
    unknown = sorted(set(spec.parts) - set(EVAL_PARTS))
    if unknown:
        raise ConfigError(f"eval.sampled.parts must be among valid, test; got {unknown}")
    try:
        return {
            part: evaluator.evaluate_sampled(
                scorer, part, int(spec.negatives), str(spec.sampler), int(spec.seed), list(spec.ks)
            )
            for part in spec.parts
            if part in parts
        }
    except ValueError as err:
        raise ConfigError(f"eval.sampled: {err}") from None


def sampled_line(cfg: DictConfig, result: EvalResult) -> str:
    """The printed line of sampled test metrics, saying what they are."""
    spec = cfg.eval.sampled
    values = ", ".join(
        f"{key.split('/')[-1].replace('hit', 'HR').replace('ndcg', 'NDCG')} {value:.4f}"
        for key, value in result.metrics.items()
        if not key.endswith("/users")
    )
    return (
        f"SAMPLED test metrics (each test item among {spec.negatives} {spec.sampler}-drawn "
        f"negatives; not comparable with the full ranking above): {values}"
    )


def monitor_evaluator(
    cfg: DictConfig, split: Split, evaluator: Evaluator, part: str, device: torch.device
) -> Evaluator:
    """The evaluator that watches training: ``evaluator`` itself, or with
    ``eval.monitor_users=n`` one over a fixed seeded sample of ``n`` of the
    ``part``'s users (slices off).

    Per-epoch validation then costs about ``n / users`` of a full pass
    (Gowalla: 5 s per pass against an 8 s epoch). It only decides early
    stopping and the best epoch; the final ``valid``/``test`` results are
    always computed over every user.
    """
    n = cfg.eval.get("monitor_users")
    if n is None:
        return evaluator
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ConfigError(f"eval.monitor_users must be a positive integer or null, got {n!r}")
    idx = split.part(part)
    users = np.unique(split.dataset.users[idx])
    if n >= len(users):
        return evaluator
    rng = np.random.default_rng(int(cfg.seed))
    sample = np.sort(rng.choice(users, size=n, replace=False))
    kept = idx[np.isin(split.dataset.users[idx], sample)]
    sub = (
        dataclasses.replace(split, valid=kept)
        if part == "valid"
        else dataclasses.replace(split, test=kept)
    )
    log.info("validating during training on %d of %d %s users", n, len(users), part)
    return build_evaluator(cfg, sub, device, slice_parts=[])


def _epoch_line(epoch: int, row: dict[str, float], monitor: str, part: str = "valid") -> str:
    parts = [f"epoch {epoch:4d}"]
    if "train/loss" in row:
        parts.append(f"loss {row['train/loss']:.4f}")
    # the monitor first; dict.fromkeys drops it from the fixed pair if it is one of them
    for key in dict.fromkeys((f"{part}/{monitor}", f"{part}/ndcg@20", f"{part}/cc_recall@20")):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}")
    if "train/epoch_time_s" in row:
        parts.append(f"{row['train/epoch_time_s']:.2f}s")
    return " | ".join(parts)


TABLE_METRICS = (
    "recall", "ndcg", "precision", "hit", "mrr", "map", "f1",
    "cc_recall", "cc_ndcg", "far_recall", "far_ndcg",
    "cat_precision", "cat_recall", "cat_f1",
    "cat_coverage", "cat_coverage_frac", "cat_entropy", "cat_gini", "ild", "ild_cos",
    "miscalibration", "cat_exposure_kl",
    "item_coverage", "item_gini", "item_entropy", "avg_pop", "tail_pct", "novelty",
    "macro_recall_by_cat",
)  # fmt: skip
"""Metrics printed in the final table (slices and per-category values are in results.json)."""


def results_table(results: dict[str, Any], ks: list[int]) -> str:
    """Final metrics as a text table: one row per metric, valid and test columns."""

    def cell(key: str) -> str:
        v = results.get(key)
        return f"{v:>10.4f}" if isinstance(v, float) and math.isfinite(v) else f"{'-':>10}"

    rows = [f"{'metric':<24}{'valid':>10}{'test':>10}"]
    for name in TABLE_METRICS:
        for k in ks:
            key = f"{name}@{k}"
            if all(f"{part}/{key}" not in results for part in ("valid", "test")):
                continue
            rows.append(f"{key:<24}{cell(f'valid/{key}')}{cell(f'test/{key}')}")
    for share in ("cc_users", "far_users"):
        if any(f"{part}/{share}" in results for part in ("valid", "test")):
            rows.append(f"{share + ' (share)':<24}{cell(f'valid/{share}')}{cell(f'test/{share}')}")
    return "\n".join(rows)


def save_split_and_topk(run_dir: Path, split: Split, users: np.ndarray, topk: np.ndarray) -> None:
    """Write ``split/*.tsv`` and ``topk.tsv`` with raw ids (atomically)."""
    ds: InteractionDataset = split.dataset
    for part in ("train", "valid", "test"):
        idx = split.part(part)
        u, i = ds.user_ids[ds.users[idx]], ds.item_ids[ds.items[idx]]
        lines = ["user_id\titem_id", *(f"{a}\t{b}" for a, b in zip(u, i, strict=True))]
        write_lines_atomic(run_dir / "split" / f"{part}.tsv", lines)
    ranks = np.arange(1, topk.shape[1] + 1)
    lines = ["user_id\trank\titem_id"]
    for user, row in zip(users, topk, strict=True):
        raw_user = ds.user_ids[user]
        lines.extend(
            f"{raw_user}\t{r}\t{ds.item_ids[i]}" for r, i in zip(ranks, row, strict=True) if i >= 0
        )
    write_lines_atomic(run_dir / "topk.tsv", lines)


def sweep_group(mode: RunMode | None, sweep_dir: str) -> str | None:
    """W&B group shared by all jobs of one multirun (None for a single run)."""
    if mode != RunMode.MULTIRUN:
        return None
    return "sweep-" + str(sweep_dir).strip("/").replace("/", "_")


EpochHook = Callable[[int, dict[str, float]], None]


def run(
    cfg: DictConfig,
    run_dir: Path,
    reuse: Reuse | None = None,
    stop: StopRequest | None = None,
    *,
    epoch_hook: EpochHook | None = None,
    test: bool = True,
) -> dict[str, Any]:
    """One experiment: data → split → graph → model → train → evaluate → files.

    ``reuse`` (from :func:`~gnnrec.logging.rundir.plan_reuse`) says whether
    the directory's checkpoint is continued or a previous run's files are
    replaced; ``stop`` is polled between training steps (pre-emption).
    ``epoch_hook(epoch, row)`` sees every epoch's row after it is logged (a
    tuner's pruning; it may raise to end the run). ``test=False`` (a tuning
    trial) never evaluates the test part: the results hold validation metrics only.
    """
    reuse = reuse or Reuse("fresh")
    started = time.perf_counter()
    seed = int(cfg.seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = resolve_device(str(cfg.device))
    if device.type == "cpu" and cfg.get("tune_malloc", True):
        tune_cpu_allocator()
    # one process of a torchrun / multi-task submitit launch, else None
    parallel = DataParallel.from_env(device, seed)
    main_rank = parallel is None or parallel.is_main
    if parallel is not None:
        device = parallel.device
        if not main_rank:
            quiet_secondary_rank()
    if main_rank:
        if reuse.action == "fresh":
            clear_run_files(run_dir)
        else:  # a continued run's earlier failure no longer describes it
            (run_dir / "error.txt").unlink(missing_ok=True)
        if reuse.note:
            log.info("%s", reuse.note)
        write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    logger: RunLogger = build(cfg.logger, "logger") if cfg.logger and main_rank else NullLogger()
    hydra_cfg = HydraConfig.get()
    logger.start(
        cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=True)),
        default_group=sweep_group(hydra_cfg.mode, hydra_cfg.sweep.dir),
    )
    failed = True
    try:
        dataset = load_data(cfg)
        log.info("%s", dataset)
        split = make_split(cfg, dataset)
        log.info("split %s: %s", split.method, split.counts())
        check_evaluable(split)
        model = build_model(cfg, split, device)
        if cfg.get("init_from"):
            init_model(model, str(cfg.init_from))
        log.info("model %s on %s", model, device)
        evaluator = checked("eval", build_evaluator, cfg, split, device)
        reranks = rerank_settings(cfg.eval, dataset)
        trainer = build(cfg.train, "trainer")
        trainer.progress = trainer.progress and main_rank
        trainer.resume = reuse.action == "resume"
        part = trainer.select_on
        monitor = monitor_evaluator(cfg, split, evaluator, part, device)
        pairs = TrainingPairs.from_split(split, device)
        loss, sampler = training_components(cfg, pairs, model, list(hydra_cfg.overrides.task))
        if model.trainable:
            log.info("loss %s, sampler %s", loss, sampler)
        generator = torch.Generator(device=device).manual_seed(seed)
        metrics_path = run_dir / "metrics.jsonl"

        def on_epoch(epoch: int, row: dict[str, float]) -> None:
            append_jsonl(metrics_path, {"epoch": epoch, **row})
            logger.log_epoch(epoch, row)
            log.info("%s", _epoch_line(epoch, row, trainer.monitor, trainer.select_on))
            if epoch_hook is not None:
                epoch_hook(epoch, row)

        def run_facts() -> dict[str, Any]:
            """What results.json records of any ended run, finished or diverged."""
            return {
                "model": cfg.model.name,
                "dataset": dataset.name,
                "split": split.method,
                "seed": seed,
                "wall_time_s": time.perf_counter() - started,
                **peak_memory(device),
                "device": device_name(device),
                "git_commit": git_commit(),
                "versions": versions(),
            }

        # data, split, graph, model, evaluators: what a run costs before its first step
        setup_time_s = time.perf_counter() - started
        try:
            with logging_redirect_tqdm(loggers=[logging.root]):
                fit = trainer.fit(
                    model,
                    monitor,
                    pairs.users,
                    pairs.items,
                    generator,
                    on_epoch=on_epoch,
                    loss=loss,
                    sampler=sampler,
                    checkpoint=run_dir / "checkpoint.pt",
                    on_resume=lambda history: write_jsonl_atomic(
                        metrics_path, [{"epoch": row["epoch"], **row} for row in history]
                    ),
                    parallel=parallel,
                    stop=stop,
                )
        except TrainingDiverged as err:
            if main_rank:  # the run ended: its record says how, and test was never computed
                write_json_atomic(
                    run_dir / "results.json",
                    {
                        "status": "diverged",
                        "error": str(err),
                        "diverged_epoch": err.epoch,
                        "diverged_step": err.step,
                        "best_epoch": err.best_epoch,
                        f"best_{part}/{trainer.monitor}": err.best_value,
                        "lr": trainer.lr,
                        **run_facts(),
                    },
                )
            raise
        if not main_rank:  # rank 0 evaluates and writes the results; this rank is done
            failed = False
            return {}
        scorer = model.scorer()
        results: dict[str, Any] = dict(evaluator.evaluate(scorer, "valid").metrics)
        parts = EVAL_PARTS if test else ("valid",)
        if test:
            tested = evaluator.evaluate(scorer, "test", keep_topk=bool(cfg.eval.save_topk))
            results.update(tested.metrics)
        sampled = sampled_results(cfg, evaluator, scorer, parts)
        for result in sampled.values():
            results.update(result.metrics)
        if test and "test" in sampled:
            tested.per_user.update(sampled["test"].per_user)
        reranked = {part: evaluator.evaluate_reranked(scorer, part, reranks) for part in parts}
        for part_results in reranked.values():
            for setting, result in zip(reranks, part_results, strict=True):
                results.update({f"rerank/{setting.name}/{k}": v for k, v in result.metrics.items()})
        results.update(
            {
                "status": "finished",
                "loss": type(loss).__name__ if model.trainable else None,
                "sampler": type(sampler).__name__ if model.trainable else None,
                "selected_on": trainer.select_on,
                "monitor_users": len(np.unique(dataset.users[monitor.split.part(part)])),
                "setup_time_s": setup_time_s,
                "best_epoch": fit.best_epoch,
                "epochs_run": fit.epochs_run,
                "train_time_s": fit.train_time_s,
                **run_facts(),
                **{f"data/{k}": v for k, v in dataset.summary().items()},
                **{f"split/{k}": v for k, v in split.counts().items()},
            }
        )
        if test and cfg.eval.save_topk:
            save_split_and_topk(run_dir, split, tested.users, tested.topk)
        if test and cfg.eval.save_per_user:
            tested.save_per_user(run_dir / "per_user.npz", user_ids=dataset.user_ids)
            if tested.per_category:
                tested.save_per_category(run_dir / "per_category.tsv")
        logger.log_results(results)
        write_json_atomic(run_dir / "results.json", results)
        (run_dir / INTERRUPTED_NAME).unlink(missing_ok=True)
        failed = False
        if not test:  # a tuning trial: its tuner prints one line per trial
            return results
        print(
            f"\n{cfg.model.name} on {dataset.name} (best epoch {fit.best_epoch}, "
            f"{results['wall_time_s']:.1f}s, {results['device']})"
        )
        print(results_table(results, list(evaluator.ks)))
        if "test" in sampled:
            print(sampled_line(cfg, sampled["test"]))
        for setting, result in zip(reranks, reranked["test"], strict=True):
            print(rerank_line(setting, result, max(evaluator.ks)))
        print(f"results: {run_dir / 'results.json'}")
        return results
    finally:
        logger.finish(failed=failed)
        if parallel is not None:
            parallel.close()


def quiet_secondary_rank() -> None:
    """On a rank other than 0 of a data-parallel run: warnings only, and none in
    Hydra's log file (rank 0 logs the run; the others would repeat it line by line)."""
    logging.getLogger("gnnrec").setLevel(logging.WARNING)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()


def write_hydra_files(run_dir: Path, config_yaml: str) -> None:
    """``.hydra/{config,hydra,overrides}.yaml`` as Hydra writes them. The config
    sets ``hydra.output_subdir: null`` so that Hydra does not write them before
    the run directory is locked and checked; the runner writes them after."""
    hydra_cfg = HydraConfig.get()
    folder = run_dir / ".hydra"
    write_text_atomic(folder / "config.yaml", config_yaml)
    write_text_atomic(folder / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra_cfg}))
    write_text_atomic(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))


def read_yaml(path: Path) -> dict[str, Any]:
    """A stored ``config.yaml`` as a plain mapping."""
    try:
        return cast("dict[str, Any]", OmegaConf.to_container(OmegaConf.load(path)))
    except Exception as err:
        raise RunDirError(f"{path}: not a readable configuration ({err})") from None


def finished_results(run_dir: Path, reuse: Reuse) -> dict[str, Any]:
    """The results of a run that ended already in ``run_dir`` (a re-launched
    sweep skips its finished jobs)."""
    print(reuse.note)
    return cast("dict[str, Any]", json.loads((run_dir / "results.json").read_text("utf-8")))


def stopped(err: TrainingInterrupted, run_dir: Path, signals: StopSignals) -> NoReturn:
    """After a stop signal: mark the checkpoint as one to continue, tell the
    user, hand the signal to the handler installed before ours (submitit's
    requeue, which exits) and otherwise exit with 128 + the signal number."""
    name = signal_name(err.signum)
    if is_main() and err.checkpoint:
        write_json_atomic(
            run_dir / INTERRUPTED_NAME, {"signal": name, "epoch": err.epoch, "time": time.time()}
        )
        print(
            f"gnnrec-train: {name}: stopped after writing the checkpoint of epoch {err.epoch}; "
            f"the next run into {run_dir} continues it (no train.resume needed)",
            file=sys.stderr,
        )
    else:
        print(f"gnnrec-train: {name}: stopped without a checkpoint", file=sys.stderr)
    signals.forward(err.signum)
    sys.exit(128 + err.signum)


@hydra.main(version_base="1.3", config_path="pkg://gnnrec.conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    monitor = f"valid/{cfg.train.get('monitor', 'recall@20')}"
    config_yaml = OmegaConf.to_yaml(cfg)
    # rank 0 alone writes the directory, so it alone locks it
    lock = RunDirLock(run_dir) if is_main() else None
    signals = StopSignals()
    owned = False  # whether error.txt may be written: never into another run's directory
    try:
        if lock is not None:
            lock.acquire()
            if lock.stale:
                log.info("took over the lock of %s, which is no longer running", lock.stale)
        owned = not any((run_dir / f).is_file() for f in ("results.json", "checkpoint.pt"))
        if owned and is_main():
            write_hydra_files(run_dir, config_yaml)
        cfg = validate(cfg)
        resolved = cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=True))
        reuse = plan_reuse(run_dir, resolved, bool(cfg.train.get("resume")), read_yaml)
        if not owned and is_main():  # the directory may be used: now it is this run's
            write_hydra_files(run_dir, config_yaml)
        owned = True
        if reuse.action == "finished":
            results = finished_results(run_dir, reuse)
        else:
            with signals:
                results = run(cfg, run_dir, reuse, stop=signals.requested)
    except TrainingInterrupted as err:
        if lock is not None:
            lock.release()  # a requeued job must find the directory free
        stopped(err, run_dir, signals)
    except GnnrecError as err:
        if is_main() and owned and not isinstance(err, RunDirError):
            write_text_atomic(run_dir / "error.txt", f"{err}\n")
        print(f"gnnrec-train: error: {err}", file=sys.stderr)
        if not isinstance(err, RunDirError | TrainingDiverged):
            print(f"(the run directory {run_dir} holds no results)", file=sys.stderr)
        if in_sweep:  # the other jobs go on; SweepReport lists the failures at the end
            return math.nan
        sys.exit(2)
    except Exception:
        if not in_sweep:
            raise
        # a bug, not bad input: the traceback goes to error.txt, the sweep goes on
        if is_main() and owned:
            write_text_atomic(run_dir / "error.txt", traceback.format_exc())
        log.exception("job %s failed", run_dir)
        return math.nan
    finally:
        if lock is not None:
            lock.release()
    value = results.get(monitor, math.nan)
    return float(value) if value is not None else math.nan


def main() -> None:
    """Console-script entry point of ``gnnrec-train``."""
    logging.getLogger("wandb").setLevel(logging.ERROR)
    _hydra_main()


if __name__ == "__main__":
    main()
