"""``gnnrec-tune``: search a model's hyper-parameters on the validation part,
then train the best configuration with several seeds and test it.

Composed like ``gnnrec-train`` (the same groups) plus ``search`` (the
model's space, ``conf/search/<model>.yaml``, chosen after ``model``),
``pruner`` and ``tune.*`` (``conf/tune.yaml``). Files, in ``tune.dir``
(default ``tuning/<dataset>/<model>``):

- ``study.journal``: the Optuna study (unless ``tune.storage`` is an RDB URL);
  the same command continues it, and several workers share it
  (``gnnrec-tune -m tune.worker=0,1,2,3 launcher=joblib``);
- ``trials/<number>/``: each trial's run directory (config, per-epoch
  metrics; validation results only — a trial never evaluates test);
- ``final/seed=<s>/``: the best configuration's runs, one per seed, with
  test metrics and per-user vectors (``gnnrec-report`` reads them);
- ``tuning.json`` (budget, trials by state, time, best parameters, the final
  runs' mean ± std), ``trials.jsonl``, ``best.yaml``, ``history.png/pdf``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import traceback
from itertools import product
from pathlib import Path
from typing import Any, cast

import hydra
import numpy as np
import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, Trial, TrialState

from gnnrec.cli.schema import validate
from gnnrec.cli.train import read_yaml, run
from gnnrec.errors import ConfigError, GnnrecError, RunDirError
from gnnrec.logging.files import write_json_atomic, write_jsonl_atomic, write_text_atomic
from gnnrec.logging.rundir import (
    Reuse,
    RunDirLock,
    config_differences,
    flatten,
    plan_reuse,
)
from gnnrec.report.figures import plot_tuning_history, read_metrics_jsonl
from gnnrec.train.preemption import StopSignals, TrainingInterrupted, signal_name
from gnnrec.tune.space import SearchSpace, as_overrides, check_keys
from gnnrec.tune.study import (
    CPU_SECONDS,
    ERROR,
    RETRY_OF,
    SECONDS,
    SURPLUS,
    WORKER,
    Budget,
    best_complete,
    best_trial,
    is_surplus,
    open_storage,
    open_study,
    progress_line,
    recover_stale,
    tally,
    trial_record,
    worker_name,
)

log = logging.getLogger("gnnrec")

PHASES = ("all", "search", "final")
TUNE_KEYS = ("tune", "search")
"""Top-level keys of gnnrec-tune's config that a trial's gnnrec-train config does not have."""
FINAL_METRICS = ("recall@20", "ndcg@20", "cc_recall@20", "cat_coverage@20", "ild@20")
"""Test metrics summarised (mean ± std over seeds) in ``tuning.json``."""
WAIT_S = 10.0


def train_config(cfg: DictConfig, params: dict[str, Any], extra: dict[str, Any]) -> DictConfig:
    """The gnnrec-train configuration of ``params`` (dotted keys) with ``extra``
    settings, checked against the runner's schema."""
    plain = cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=False))
    for key in TUNE_KEYS:
        plain.pop(key, None)
    out = OmegaConf.create(plain)
    for key, value in {**params, **extra}.items():
        OmegaConf.update(out, key, value, merge=False, force_add=True)
    return validate(out)


def trial_settings(cfg: DictConfig) -> dict[str, Any]:
    """What a trial changes beyond its parameters: no checkpoints, no re-ranking,
    no saved lists, no progress bar; W&B only with ``tune.log_trials``."""
    extra: dict[str, Any] = {
        "train.checkpoint_every": 0,
        "train.progress": False,
        "train.resume": False,
        "eval.rerank": None,
        "eval.save_topk": False,
        "eval.save_per_user": False,
    }
    if not cfg.tune.log_trials:
        extra["logger"] = {"_target_": "gnnrec.logging.NullLogger"}
    return extra


class Pruning:
    """The epoch hook of a trial: report the validation monitor, stop when the
    pruner says so (``optuna.TrialPruned`` ends the run)."""

    def __init__(self, trial: Trial, key: str) -> None:
        self.trial, self.key = trial, key

    def __call__(self, epoch: int, row: dict[str, float]) -> None:
        value = row.get(self.key)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch} ({self.key} {value:.4f})")


class Tuner:
    """One worker of a search: asks the study for trials until the budget is
    spent, runs each as a gnnrec-train run on the validation part, tells the
    outcome; then (phase ``final``) trains the best configuration per seed."""

    def __init__(self, cfg: DictConfig, signals: StopSignals) -> None:
        self.cfg = cfg
        self.signals = signals
        tune = cfg.tune
        if str(tune.phase) not in PHASES:
            raise ConfigError(f"tune.phase must be one of {', '.join(PHASES)}, got {tune.phase!r}")
        if str(cfg.train.select_on) != "valid":
            raise ConfigError(
                "gnnrec-tune searches on the validation part: train.select_on must be valid "
                f"(got {cfg.train.select_on}); test is evaluated only by the final runs"
            )
        self.dir = Path(str(tune.dir)).absolute()
        self.monitor = f"valid/{cfg.train.monitor}"
        source = f"conf/search/{HydraConfig.get().runtime.choices.get('search', '?')}.yaml"
        self.space = SearchSpace.from_spec(
            cast("dict[str, Any]", _plain(cfg.get("search"))), source
        )
        self._plain_config = cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=False))
        check_keys(self.space, self._plain_config)
        grid = self.space.grid()
        self.grid: list[dict[str, Any]] = []
        sampler: optuna.samplers.BaseSampler
        if not len(self.space):  # nothing to tune (MostPop): one trial
            sampler, n_trials = optuna.samplers.RandomSampler(seed=int(cfg.seed)), 1
        elif grid is not None and tune.grid_when_categorical:
            # a small all-categorical space (training-free baselines) is searched exhaustively:
            # every point is queued (search()); Optuna's GridSampler cannot be used with
            # ask-and-tell, it stops the study from inside tell()
            self.grid = [dict(zip(grid, values, strict=True)) for values in product(*grid.values())]
            sampler = optuna.samplers.RandomSampler(seed=int(cfg.seed))
            n_trials = len(self.grid)
        else:
            sampler = instantiate(tune.sampler)
            n_trials = tune.n_trials
        self.budget = Budget(
            None if n_trials is None else int(n_trials),
            None if tune.budget_s is None else float(tune.budget_s),
        )
        self.seeds = [int(s) for s in tune.seeds]
        storage = open_storage(tune.storage, self.dir)
        self.study = open_study(storage, str(tune.study_name), sampler, instantiate(tune.pruner))

    def trial_dir(self, number: int) -> Path:
        return self.dir / "trials" / f"{number:04d}"

    # ---- search ---------------------------------------------------------------

    def search(self) -> None:
        if self.grid:
            queued = [t.params for t in self.study.get_trials(deepcopy=False)]
            for point in self.grid:
                if point not in queued:
                    self.study.enqueue_trial(point)
        elif self.cfg.tune.start_from_default and not self.study.get_trials(deepcopy=False):
            # the first trial of a new study is the model's default configuration, so the
            # tuned result is never worse on validation than the untuned one
            default = self.space.default_point(self._plain_config)
            if default:
                self.study.enqueue_trial(default)
                log.info("trial 0 is the default configuration: %s", as_overrides(default))
        recovered = recover_stale(self.study, self.trial_dir)
        if recovered:
            log.info("trials %s had lost their worker: failed, and queued again", recovered)
        log.info(
            "search %s: %d parameter(s) %s; budget %s; pruner %s",
            self.study.study_name, len(self.space), self.space.describe(),
            self.budget.describe(), type(self.study.pruner).__name__,
        )  # fmt: skip
        while not self.budget.spent(tally(self.study.get_trials(deepcopy=False))):
            trial = self.study.ask(self.space.distributions)
            frozen = self.study.get_trials(deepcopy=False)
            mine = next(t for t in frozen if t.number == trial.number)
            if is_surplus(frozen, mine, self.budget):
                trial.set_user_attr(SURPLUS, True)
                self.study.tell(trial, state=TrialState.FAIL)
                break
            self.run_trial(trial)

    def run_trial(self, trial: Trial) -> None:
        folder = self.trial_dir(trial.number)
        lock = RunDirLock(folder).acquire()
        trial.set_user_attr(WORKER, worker_name())
        started, cpu_started = time.perf_counter(), time.process_time()
        state, value, error = TrialState.FAIL, None, None
        try:
            cfg = train_config(self.cfg, dict(trial.params), trial_settings(self.cfg))
            results = run(
                cfg,
                folder,
                Reuse("fresh"),
                stop=self.signals.requested,
                epoch_hook=Pruning(trial, self.monitor),
                test=False,
            )
            got = results.get(self.monitor)
            if got is not None and math.isfinite(got):
                state, value = TrialState.COMPLETE, float(got)
            else:
                error = f"no finite {self.monitor} ({got})"
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except TrainingInterrupted:
            # a stop signal: this trial is tried again by the next run of the search
            self._tell(trial, TrialState.FAIL, None, "interrupted by a stop signal", started)
            self.study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF: trial.number})
            lock.release()
            raise
        except GnnrecError as err:  # a diverged trial, a configuration that cannot be built
            error = str(err)
        except Exception:  # a bug: the traceback is kept, the search goes on
            error = traceback.format_exc()
            log.exception("trial %d failed", trial.number)
        if error is not None:
            write_text_atomic(folder / "error.txt", f"{error.rstrip()}\n")
        self._tell(trial, state, value, error, started, cpu_started)
        lock.release()

    def _tell(
        self,
        trial: Trial,
        state: TrialState,
        value: float | None,
        error: str | None,
        started: float,
        cpu_started: float | None = None,
    ) -> None:
        seconds = time.perf_counter() - started
        trial.set_user_attr(SECONDS, seconds)
        if cpu_started is not None:
            trial.set_user_attr(CPU_SECONDS, time.process_time() - cpu_started)
        if error is not None:
            trial.set_user_attr(ERROR, error.strip().splitlines()[-1][:500])
        if state == TrialState.COMPLETE:
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=state)
        trials = self.study.get_trials(deepcopy=False)
        best = best_complete(trials)
        shown = value if state == TrialState.COMPLETE else None
        frozen = next(t for t in trials if t.number == trial.number)
        log.info(
            "%s",
            progress_line(
                frozen, state.name, shown, tally(trials), self.budget, self.monitor, best, seconds
            ),
        )

    def wait_for_others(self) -> None:
        """Phase ``all`` with several workers: the final runs start once no
        trial is running anywhere (stale ones are recovered meanwhile)."""
        while True:
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not running:
                return
            if recover_stale(self.study, self.trial_dir):
                self.search()  # the recovered trials are queued: run them
                continue
            log.info("waiting for %d trial(s) of other workers", len(running))
            time.sleep(WAIT_S)

    # ---- final runs -----------------------------------------------------------

    def final(self) -> list[dict[str, Any]]:
        best = best_trial(self.study)
        log.info(
            "best trial #%d: %s %.4f with %s; training it with seeds %s",
            best.number, self.monitor, best.value, " ".join(as_overrides(best.params)), self.seeds,
        )  # fmt: skip
        self.write_best(best)
        extra_overrides = OmegaConf.from_dotlist(list(self.cfg.tune.final_overrides))
        for seed in self.seeds:
            folder = self.dir / "final" / f"seed={seed}"
            extra: dict[str, Any] = {"seed": seed, "eval.save_per_user": True}
            if self.cfg.logger and "save_dir" in self.cfg.logger:
                extra["logger.save_dir"] = str(folder)
            extra.update(flatten(cast("dict[str, Any]", OmegaConf.to_container(extra_overrides))))
            cfg = train_config(self.cfg, dict(best.params), extra)
            lock = RunDirLock(folder)
            try:
                lock.acquire()
            except RunDirError:
                log.info("%s is being run by another worker: skipped here", folder)
                continue
            try:
                resolved = cast("dict[str, Any]", OmegaConf.to_container(cfg, resolve=True))
                stored = folder / "config.yaml"
                same = stored.is_file() and not config_differences(read_yaml(stored), resolved)
                # the best configuration may have changed since (a longer search): replace
                reuse = plan_reuse(folder, resolved, True, read_yaml) if same else Reuse("fresh")
                if reuse.action == "finished":
                    log.info("%s: finished already, skipped", folder)
                    continue
                run(cfg, folder, reuse, stop=self.signals.requested)
            finally:
                lock.release()
        return self.final_results()

    def final_results(self) -> list[dict[str, Any]]:
        out = []
        for seed in self.seeds:
            path = self.dir / "final" / f"seed={seed}" / "results.json"
            if path.is_file():
                out.append(json.loads(path.read_text(encoding="utf-8")))
        return out

    def write_best(self, best: FrozenTrial) -> None:
        choices = HydraConfig.get().runtime.choices
        base = [f"model={choices.get('model')}", f"dataset={choices.get('dataset')}"]
        write_text_atomic(
            self.dir / "best.yaml",
            OmegaConf.to_yaml(
                {
                    "trial": best.number,
                    "value": best.value,
                    "monitor": self.monitor,
                    "params": dict(best.params),
                    "command": " ".join(["gnnrec-train", *base, *as_overrides(best.params)]),
                }
            ),
        )

    # ---- summary --------------------------------------------------------------

    def summarise(self, final: list[dict[str, Any]]) -> dict[str, Any]:
        trials = self.study.get_trials(deepcopy=False)
        t = tally(trials)
        records = [trial_record(x) for x in trials]
        write_jsonl_atomic(self.dir / "trials.jsonl", records)
        curves = {}
        for x in trials:
            rows = read_metrics_jsonl(self.trial_dir(x.number))
            curves[x.number] = [(int(r["epoch"]), float(r[self.monitor])) for r in rows
                                if r.get(self.monitor) is not None]  # fmt: skip
        plot_tuning_history(records, curves, self.monitor, self.dir / "history")
        best = best_complete(trials)
        summary: dict[str, Any] = {
            "study": self.study.study_name,
            "model": self.cfg.model.name,
            "dataset": HydraConfig.get().runtime.choices.get("dataset"),
            "monitor": self.monitor,
            "search_space": self.space.describe(),
            "sampler": type(self.study.sampler).__name__,
            "pruner": type(self.study.pruner).__name__,
            "budget": self.budget.describe(),
            "budget_trials": self.budget.n_trials,
            "budget_s": self.budget.seconds,
            "trials": t.done,
            "complete": t.complete,
            "pruned": t.pruned,
            "failed": t.failed,
            "pruned_share": t.pruned / t.done if t.done else 0.0,
            "trial_seconds": t.seconds,
            "trial_cpu_seconds": t.cpu_seconds,
            "best_trial": best.number if best else None,
            "best_value": best.value if best else None,
            "best_params": dict(best.params) if best else None,
            "seeds": [r.get("seed") for r in final],
            "final_seconds": sum(float(r.get("wall_time_s", 0.0)) for r in final),
        }
        for name in FINAL_METRICS:
            values = [float(r[f"test/{name}"]) for r in final if f"test/{name}" in r]
            if values:
                summary[f"test/{name}"] = {
                    "mean": float(np.mean(values)),
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                    "n": len(values),
                }
        write_json_atomic(self.dir / "tuning.json", summary)
        return summary


def _plain(node: Any) -> Any:
    """A config node as plain containers (``{}`` for none)."""
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


def headline(summary: dict[str, Any]) -> str:
    """The summary printed at the end of a search."""
    lines = [
        f"\n{summary['study']}: {summary['trials']} trials ({summary['complete']} complete, "
        f"{summary['pruned']} pruned, {summary['failed']} failed) of a budget of "
        f"{summary['budget']}; {summary['trial_seconds'] / 60:.1f} min of trials",
    ]
    if summary["best_value"] is not None:
        lines.append(
            f"best trial #{summary['best_trial']}: {summary['monitor']} "
            f"{summary['best_value']:.4f} with {' '.join(as_overrides(summary['best_params']))}"
        )
    for name in FINAL_METRICS:
        cell = summary.get(f"test/{name}")
        if cell:
            lines.append(f"test/{name}: {cell['mean']:.4f} ± {cell['std']:.4f} ({cell['n']} seeds)")
    return "\n".join(lines)


class TuneReport(Callback):
    """After ``gnnrec-tune -m`` (several workers): the study's summary."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(str(config.tune.dir)).absolute() / "tuning.json"
        if path.is_file():
            print(headline(json.loads(path.read_text(encoding="utf-8"))))


@hydra.main(version_base="1.3", config_path="pkg://gnnrec.conf", config_name="tune")
def _hydra_main(cfg: DictConfig) -> float:
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    signals = StopSignals()
    try:
        with signals:
            tuner = Tuner(cfg, signals)
            phase = str(cfg.tune.phase)
            if phase in ("all", "search"):
                tuner.search()
            final: list[dict[str, Any]] = []
            if phase in ("all", "final"):
                tuner.wait_for_others()
                final = tuner.final()
            summary = tuner.summarise(final or tuner.final_results())
    except TrainingInterrupted as err:
        name = signal_name(err.signum)
        print(
            f"gnnrec-tune: {name}: stopped; the same command continues the search (an "
            "interrupted trial is queued again, an interrupted final run resumes)",
            file=sys.stderr,
        )
        signals.forward(err.signum)
        sys.exit(128 + err.signum)
    except GnnrecError as err:
        print(f"gnnrec-tune: error: {err}", file=sys.stderr)
        if in_sweep:
            return math.nan
        sys.exit(2)
    print(headline(summary))
    return float(summary["best_value"]) if summary["best_value"] is not None else math.nan


def main() -> None:
    """Console-script entry point of ``gnnrec-tune``."""
    logging.getLogger("wandb").setLevel(logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    _hydra_main()


if __name__ == "__main__":
    main()
