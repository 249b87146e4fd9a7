"""The study every worker of one search shares: its storage, its budget, and
the bookkeeping that lets a killed search continue.

Storage is Optuna's journal file (``<tune dir>/study.journal``; several
processes on one machine append to it under a file lock) unless an RDB URL
is given (``sqlite:///…``, ``postgresql://…`` for workers on several hosts).

Budget: ``n_trials`` counted trials and/or ``budget_s`` summed trial
seconds, whichever is reached first. A counted trial is one that is not a
stale copy (its worker died: :func:`recover_stale`; the retry counts in its
place) and not surplus (asked by a worker after the budget was full).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial, TrialState

from gnnrec.errors import ConfigError, GnnrecError, RunDirError
from gnnrec.logging.rundir import LOCK_NAME, RunDirLock

JOURNAL_NAME = "study.journal"
RETRY_OF = "retry_of"
"""User attribute of a trial re-enqueued in place of an interrupted or stale one."""
SURPLUS = "surplus"
"""User attribute of a trial asked after the budget was full (failed at once, not counted)."""
SECONDS = "seconds"
CPU_SECONDS = "cpu_seconds"
ERROR = "error"
WORKER = "worker"
LOCKLESS_GRACE_S = 600.0
"""A RUNNING trial without a lock file is taken as stale after this long
(its worker died between asking for it and locking its directory)."""

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def open_storage(url: str | None, tune_dir: Path) -> BaseStorage | str:
    """The study's storage: an RDB URL as given, else a journal file in ``tune_dir``."""
    if url:
        return url
    tune_dir.mkdir(parents=True, exist_ok=True)
    path = str(tune_dir / JOURNAL_NAME)
    # an open-lock (not the default symlink lock) works on file systems without symlinks too
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def open_study(
    storage: BaseStorage | str, name: str, sampler: BaseSampler, pruner: BasePruner
) -> optuna.Study:
    """Create the maximising study ``name`` or load it if it exists (a continued search)."""
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )
    except ValueError as err:  # e.g. a stored study of the same name that minimises
        raise ConfigError(f"tune.study_name={name}: {err}") from None
    except Exception as err:  # an unreachable RDB, a corrupt journal
        raise GnnrecError(f"cannot open the study {name} in {storage}: {err}") from None
    return study


@dataclass(frozen=True)
class Tally:
    """Where the budget stands: counted trials by state and their seconds."""

    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int
    seconds: float
    cpu_seconds: float

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.failed


def counted(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials the budget counts (not replaced by a retry, not surplus)."""
    replaced = {int(t.user_attrs[RETRY_OF]) for t in trials if RETRY_OF in t.user_attrs}
    return [t for t in trials if t.number not in replaced and not t.user_attrs.get(SURPLUS)]


def tally(trials: Sequence[FrozenTrial]) -> Tally:
    kept = counted(trials)

    def n(state: TrialState) -> int:
        return sum(t.state == state for t in kept)

    finished = [t for t in kept if t.state in FINISHED]
    return Tally(
        complete=n(TrialState.COMPLETE),
        pruned=n(TrialState.PRUNED),
        failed=n(TrialState.FAIL),
        running=n(TrialState.RUNNING),
        waiting=n(TrialState.WAITING),
        seconds=sum(float(t.user_attrs.get(SECONDS, 0.0)) for t in finished),
        cpu_seconds=sum(float(t.user_attrs.get(CPU_SECONDS, 0.0)) for t in finished),
    )


@dataclass(frozen=True)
class Budget:
    """``n_trials`` counted trials and/or ``seconds`` of summed trial time."""

    n_trials: int | None
    seconds: float | None

    def __post_init__(self) -> None:
        if self.n_trials is None and self.seconds is None:
            raise ConfigError("tune: give a budget, tune.n_trials and/or tune.budget_s")
        if self.n_trials is not None and self.n_trials < 1:
            raise ConfigError(f"tune.n_trials must be >= 1 or null, got {self.n_trials}")
        if self.seconds is not None and self.seconds <= 0:
            raise ConfigError(f"tune.budget_s must be > 0 or null, got {self.seconds}")

    def spent(self, t: Tally) -> bool:
        """No new trial should start (a waiting retry still runs)."""
        if t.waiting:
            return False
        if self.n_trials is not None and t.done + t.running >= self.n_trials:
            return True
        return self.seconds is not None and t.seconds >= self.seconds

    def describe(self) -> str:
        parts = []
        if self.n_trials is not None:
            parts.append(f"{self.n_trials} trials")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g} s of trial time")
        return " or ".join(parts) + (", whichever comes first" if len(parts) == 2 else "")


def is_surplus(trials: Sequence[FrozenTrial], trial: FrozenTrial, budget: Budget) -> bool:
    """Whether ``trial`` (just asked) exceeds ``n_trials``: the counted trials
    numbered before it fill the budget already (two workers asked at once)."""
    if budget.n_trials is None or RETRY_OF in trial.user_attrs:
        return False
    earlier = [
        t for t in counted(trials) if t.number < trial.number and t.state != TrialState.WAITING
    ]
    return len(earlier) >= budget.n_trials


def recover_stale(
    study: optuna.Study, trial_dir: Callable[[int], Path], now: float | None = None
) -> list[int]:
    """Fail the RUNNING trials whose worker is gone and enqueue each one's
    parameters again (marked ``retry_of``), so that a killed search continues
    and the budget stays exact. A trial's worker holds its directory's
    :class:`RunDirLock`; a lock that can be taken means its holder ended
    (the kernel releases ``flock`` locks of dead processes). Returns the
    numbers of the trials recovered."""
    now = time.time() if now is None else now
    recovered = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        folder = trial_dir(t.number)
        if not (folder / LOCK_NAME).exists():
            started = t.datetime_start.timestamp() if t.datetime_start else now
            if now - started < LOCKLESS_GRACE_S:
                continue  # just asked by a live worker that has not locked it yet
        lock = RunDirLock(folder)
        try:
            lock.acquire()
        except RunDirError:
            continue  # its worker is alive
        try:
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(dict(t.params), user_attrs={RETRY_OF: t.number})
            recovered.append(t.number)
        finally:
            lock.release()
    return recovered


def worker_name() -> str:
    """``host:pid`` of this worker (recorded on each trial it runs)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def best_complete(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The COMPLETE trial of the highest value (the earliest of equals), or None."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return max(done, key=lambda t: (float(t.value or 0.0), -t.number)) if done else None


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The best COMPLETE trial; a clear error when none completed."""
    best = best_complete(study.get_trials(deepcopy=False))
    if best is None:
        raise GnnrecError(
            f"study {study.study_name} has no completed trial (every trial failed or was "
            "pruned): look at the trials' error.txt, widen the search space or raise the budget"
        )
    return best


def progress_line(
    trial: FrozenTrial | None, state: str, value: float | None, t: Tally, budget: Budget,
    monitor: str, best: FrozenTrial | None, seconds: float,
) -> str:  # fmt: skip
    """``trial 12/30 COMPLETE valid/recall@20 0.2011 (14.2 s) | best 0.2100 (#7) | done 12: …``"""
    total = f"/{budget.n_trials}" if budget.n_trials is not None else ""
    head = f"trial {trial.number if trial else '?'}{total} {state}"
    if value is not None:
        head += f" {monitor} {value:.4f}"
    head += f" ({seconds:.1f} s)"
    best_part = (
        f"best {best.value:.4f} (#{best.number})"
        if best is not None and best.value is not None
        else "best -"
    )
    spent = f"{t.seconds / 60:.1f} min of trials"
    if budget.seconds is not None:
        spent += f" of {budget.seconds / 60:.1f}"
    return (
        f"{head} | {best_part} | done {t.done}: complete {t.complete}, pruned {t.pruned}, "
        f"failed {t.failed} | {spent}"
    )


def trial_record(t: FrozenTrial) -> dict[str, Any]:
    """A trial as one JSON-able row of ``trials.jsonl``."""
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "params": dict(t.params),
        "last_epoch": t.last_step,
        "seconds": t.user_attrs.get(SECONDS),
        "cpu_seconds": t.user_attrs.get(CPU_SECONDS),
        "error": t.user_attrs.get(ERROR),
        "retry_of": t.user_attrs.get(RETRY_OF),
        "surplus": bool(t.user_attrs.get(SURPLUS)),
        "worker": t.user_attrs.get(WORKER),
    }
