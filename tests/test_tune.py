"""gnnrec-tune: search spaces, budget bookkeeping, pruning that stops a trial,
failed trials, workers sharing a study, a killed study continuing, and test
metrics never computed during the search."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from gnnrec.errors import ConfigError
from gnnrec.tune.space import SearchSpace, as_overrides, check_keys
from gnnrec.tune.study import (
    RETRY_OF,
    SECONDS,
    SURPLUS,
    Budget,
    is_surplus,
    open_storage,
    recover_stale,
    tally,
)
from tests.conftest import write_small_ml100k
from tests.test_cli_train import BIN

QUIET = ("logger=none", "train.progress=false")
SPACE_DIR = Path(__file__).parent / "tune_spaces"


# ---- search spaces -------------------------------------------------------------


def test_a_nested_spec_becomes_one_distribution_per_dotted_key():
    spec = {
        "train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
        "model": {
            "num_layers": {"low": 1, "high": 4},
            "eps": {"low": 0.05, "high": 0.5, "step": 0.05},
            "activation": {"choices": ["elu", "none"]},
        },
    }
    space = SearchSpace.from_spec(spec, "conf/search/x.yaml")
    d = space.distributions
    assert list(d) == ["train.lr", "model.num_layers", "model.eps", "model.activation"]
    assert d["train.lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert d["model.num_layers"] == IntDistribution(1, 4)
    assert d["model.eps"] == FloatDistribution(0.05, 0.5, step=0.05)
    assert d["model.activation"] == CategoricalDistribution(["elu", "none"])
    assert space.grid() is None  # not all categorical
    assert space.describe()["train.lr"] == "[0.0001, 0.01] log"


def test_the_default_point_is_the_configuration_when_it_lies_in_the_space():
    spec = {
        "train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
        "model": {"num_layers": {"low": 1, "high": 4}, "act": {"choices": ["elu", "none"]}},
    }
    space = SearchSpace.from_spec(spec, "s")
    config = {"train": {"lr": 0.005}, "model": {"num_layers": 3, "act": "elu"}}
    assert space.default_point(config) == {
        "train.lr": 0.005, "model.num_layers": 3, "model.act": "elu",
    }  # fmt: skip
    assert space.default_point({**config, "train": {"lr": 0.05}}) == {}  # above the range
    assert space.default_point({**config, "model": {"num_layers": 3, "act": "relu"}}) == {}


def test_an_all_categorical_space_is_a_grid_of_the_product_of_its_choices():
    spec = {"model": {"k": {"choices": [20, 50, 100]}, "shrink": {"choices": [0.0, 10.0]}}}
    space = SearchSpace.from_spec(spec, "s")
    assert space.grid() == {"model.k": [20, 50, 100], "model.shrink": [0.0, 10.0]}
    assert space.grid_size() == 6  # 3 x 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (0.01, "expected a mapping such as"),
        ({"low": 1, "high": 1}, "expected low < high"),
        ({"low": 0.0, "high": 1.0, "log": True}, "a log range needs low > 0"),
        ({"low": 1e-3, "high": 1.0, "log": True, "step": 0.1}, "'log' and 'step' cannot"),
        ({"low": "a", "high": 1.0}, "'low' must be a number"),
        ({"choices": []}, "'choices' must be a non-empty list"),
        ({"choices": [1], "low": 0}, "'choices' takes no other field"),
        ({"low": 0.1, "hihg": 1.0}, "expected 'choices', or 'low' and 'high'"),
    ],
)
def test_a_bad_range_names_the_file_and_the_key(entry, message):
    with pytest.raises(ConfigError) as err:
        SearchSpace.from_spec({"train": {"lr": entry}}, "conf/search/lightgcn.yaml")
    assert str(err.value).startswith("conf/search/lightgcn.yaml: train.lr: ")
    assert message in str(err.value)


def test_a_key_missing_from_the_configuration_is_refused_before_any_trial():
    space = SearchSpace.from_spec({"model": {"num_layer": {"low": 1, "high": 3}}}, "f.yaml")
    with pytest.raises(ConfigError, match=r"f.yaml: model.num_layer is not a key"):
        check_keys(space, {"model": {"num_layers": 3}, "train": {"lr": 0.1}})
    present = SearchSpace.from_spec({"train": {"lr": {"choices": [1]}}}, "f")
    check_keys(present, {"train": {"lr": 1}})


def test_parameters_print_as_gnnrec_train_overrides():
    params = {"train.lr": 0.005, "model.activation": "none", "model.alpha": None, "x.b": True}
    assert as_overrides(params) == [
        "train.lr=0.005", "model.activation=none", "model.alpha=null", "x.b=true",
    ]  # fmt: skip


# ---- budget bookkeeping (an in-memory study) -------------------------------------


def _study() -> optuna.Study:
    return optuna.create_study(direction="maximize")


def test_the_budget_counts_finished_and_running_trials_but_not_replaced_or_surplus_ones():
    study = _study()
    dist = {"x": FloatDistribution(0, 1)}
    states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL]
    for n, state in enumerate(states):
        t = study.ask(dist)
        t.set_user_attr(SECONDS, 10.0 * (n + 1))
        if n == 3:
            t.set_user_attr(SURPLUS, True)
        study.tell(t, 0.5 if state == TrialState.COMPLETE else None, state=state)
    retry = study.ask(dist)  # in place of trial 2 (its worker died): trial 2 no longer counts
    retry.set_user_attr(RETRY_OF, 2)
    t = tally(study.get_trials(deepcopy=False))
    # counted: #0 complete (10 s), #1 pruned (20 s), #4 running; #2 replaced, #3 surplus
    assert (t.complete, t.pruned, t.failed, t.running, t.waiting) == (1, 1, 0, 1, 0)
    assert t.seconds == 30.0 and t.done == 2
    assert Budget(3, None).spent(t)  # 2 done + 1 running
    assert not Budget(4, None).spent(t)
    assert Budget(None, 30.0).spent(t) and not Budget(None, 31.0).spent(t)
    with pytest.raises(ConfigError, match="give a budget"):
        Budget(None, None)


def test_a_waiting_retry_runs_even_when_the_budget_is_full():
    study = _study()
    for _ in range(2):
        study.tell(study.ask({"x": FloatDistribution(0, 1)}), 0.1)
    study.enqueue_trial({"x": 0.3}, user_attrs={RETRY_OF: 1})
    t = tally(study.get_trials(deepcopy=False))
    assert t.waiting == 1 and not Budget(1, None).spent(t)


def test_a_trial_asked_after_the_budget_filled_is_surplus():
    study = _study()
    dist = {"x": FloatDistribution(0, 1)}
    for _ in range(3):  # three workers asked at once
        study.ask(dist)
    trials = study.get_trials(deepcopy=False)
    budget = Budget(2, None)
    assert [is_surplus(trials, t, budget) for t in trials] == [False, False, True]
    assert not is_surplus(trials, trials[2], Budget(3, None))
    assert not is_surplus(trials, trials[2], Budget(None, 60.0))


def test_a_running_trial_whose_worker_is_gone_is_failed_and_queued_again(tmp_path):
    study = _study()
    dist = {"x": FloatDistribution(0, 1)}
    dead = study.ask(dist)
    study.ask(dist), study.ask(dist)  # trials 1 (a live worker's) and 2 (just asked)
    folders = {n: tmp_path / str(n) for n in (0, 1, 2)}
    folders[0].mkdir()
    (folders[0] / ".gnnrec.lock").write_text("{}")  # locked once by a process that ended
    from gnnrec.logging.rundir import RunDirLock

    held = RunDirLock(folders[1]).acquire()  # a live worker's trial
    try:
        # trial 2 has no lock file yet: just asked, within the grace period
        assert recover_stale(study, lambda n: tmp_path / str(n)) == [0]
    finally:
        held.release()
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [
        TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING, TrialState.WAITING,
    ]  # fmt: skip
    assert trials[3].user_attrs[RETRY_OF] == 0 and trials[3].params == {}
    assert study.ask(dist).params == dead.params  # the retry repeats the lost parameters
    # trial 1's worker let go of its lock; lock-less trials (2, and 3 just asked) older
    # than the grace period are stale as well
    assert recover_stale(study, lambda n: tmp_path / str(n), now=time.time() + 3600) == [1, 2, 3]


def test_the_journal_storage_is_a_file_in_the_tuning_directory(tmp_path):
    storage = open_storage(None, tmp_path / "t")
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.tell(study.ask({"x": FloatDistribution(0, 1)}), 0.5)
    again = optuna.load_study(study_name="s", storage=open_storage(None, tmp_path / "t"))
    assert (tmp_path / "t" / "study.journal").is_file() and len(again.trials) == 1
    assert open_storage("sqlite:///x.db", tmp_path) == "sqlite:///x.db"


# ---- gnnrec-tune end to end (small ml-100k-format data) --------------------------


@pytest.fixture
def small(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    write_small_ml100k(data)
    return data


def _args(small: Path, *more: str) -> tuple[str, ...]:
    return (
        f"dataset.root={small}",
        "dataset.min_rating=null",
        "eval.ks=[5,20]",
        "train.batch_size=64",
        "train.monitor=recall@5",
        f"hydra.searchpath=[file://{SPACE_DIR}]",
        *QUIET,
        *more,
    )


def _study_at(folder: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(None, folder))


def test_search_then_seeds_never_evaluate_test_during_the_search(
    tune_here, small, tmp_path, monkeypatch
):
    from gnnrec.cli import tune as tune_cli
    from gnnrec.evaluation.evaluator import Evaluator

    phase = {"now": "search"}
    parts: list[tuple[str, str]] = []
    evaluate, final = Evaluator.evaluate, tune_cli.Tuner.final

    def evaluate_spy(self, scorer, part, *args, **kwargs):
        parts.append((phase["now"], part))
        return evaluate(self, scorer, part, *args, **kwargs)

    def final_spy(self):
        phase["now"] = "final"
        return final(self)

    monkeypatch.setattr(Evaluator, "evaluate", evaluate_spy)
    monkeypatch.setattr(tune_cli.Tuner, "final", final_spy)
    proc = tune_here(
        *_args(small, "model=mf", "train.epochs=3", "tune.n_trials=3", "tune.seeds=[0,1]"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    search_parts = {p for phase, p in parts if phase == "search"}
    assert search_parts == {"valid"}  # the search never computed a test metric
    assert {p for phase, p in parts if phase == "final"} == {"valid", "test"}
    root = tmp_path / "tuning" / "ml-100k" / "mf"
    trials = sorted((root / "trials").iterdir())
    assert len(trials) == 3
    for trial in trials:
        results = json.loads((trial / "results.json").read_text())
        assert not [k for k in results if k.startswith("test/")]
    summary = json.loads((root / "tuning.json").read_text())
    assert summary["trials"] == 3 and summary["budget"] == "3 trials"
    assert summary["seeds"] == [0, 1] and summary["test/recall@20"]["n"] == 2
    for seed in (0, 1):
        run = root / "final" / f"seed={seed}"
        results = json.loads((run / "results.json").read_text())
        assert results["seed"] == seed and "test/recall@20" in results
        assert (run / "per_user.npz").is_file()
    best = summary["best_params"]
    assert set(best) == {"train.lr", "train.reg_weight"}
    for key, value in best.items():  # the final runs used the best trial's parameters
        name = key.split(".")[1]
        assert f"  {name}: {value}" in (root / "final" / "seed=0" / "config.yaml").read_text()
    first = _study_at(root, "mf-ml-100k").trials[0]
    assert first.params == {"train.lr": 0.005, "train.reg_weight": 1.0e-4}  # the default config
    assert (root / "history.png").is_file() and (root / "trials.jsonl").is_file()
    assert "gnnrec-train model=mf dataset=ml-100k train.lr=" in (root / "best.yaml").read_text()
    assert "mf-ml-100k: 3 trials (" in proc.stdout
    # the same command again: the budget is spent and the final runs are finished
    again = tune_here(
        *_args(small, "model=mf", "train.epochs=3", "tune.n_trials=3", "tune.seeds=[0,1]"),
        cwd=tmp_path,
    )
    assert again.returncode == 0 and len(_study_at(root, "mf-ml-100k").trials) == 3


def test_pruning_stops_a_trial_after_the_epoch_the_pruner_rejects(tune_here, small, tmp_path):
    # a threshold no trial reaches: every trial is stopped after its first validated epoch
    pruner = "pruner=unreachable"
    proc = tune_here(
        *_args(small, "model=mf", "train.epochs=30", "tune.n_trials=2", "tune.phase=search"),
        pruner,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "tuning" / "ml-100k" / "mf"
    study = _study_at(root, "mf-ml-100k")
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    for t in study.trials:
        rows = (root / "trials" / f"{t.number:04d}" / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(r)["epoch"] for r in rows] == [1]  # 1 of 30 epochs ran
        assert not (root / "trials" / f"{t.number:04d}" / "results.json").exists()


def test_a_diverging_trial_is_failed_and_the_search_goes_on(tune_here, small, tmp_path):
    proc = tune_here(
        *_args(small, "model=mf", "search=diverging", "train.epochs=2", "tune.phase=search"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    study = _study_at(tmp_path / "tuning" / "ml-100k" / "mf", "mf-ml-100k")
    # an all-categorical space is a grid: both learning rates, one trial each
    outcome = {t.params["train.lr"]: t.state for t in study.trials}
    assert outcome == {1.0e6: TrialState.FAIL, 0.005: TrialState.COMPLETE}
    failed = next(t for t in study.trials if t.state == TrialState.FAIL)
    assert "training diverged at epoch 1" in failed.user_attrs["error"]


def test_a_search_without_a_completed_trial_says_so(tune_here, small, tmp_path):
    proc = tune_here(
        *_args(small, "model=mf", "search=diverging", "search.train.lr.choices=[1.0e6]"),
        "train.epochs=2",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "has no completed trial (every trial failed or was pruned)" in proc.stderr


def test_select_on_test_is_refused(tune_here, small, tmp_path):
    proc = tune_here(*_args(small, "model=mf", "train.select_on=test"), cwd=tmp_path)
    assert proc.returncode == 2 and "train.select_on must be valid" in proc.stderr


def test_a_typo_in_a_search_space_key_stops_before_any_trial(tune_here, small, tmp_path):
    proc = tune_here(*_args(small, "model=mf", "+search.model.dim={low:8,high:64}"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "conf/search/mf.yaml: model.dim is not a key of the composed configuration" in (
        proc.stderr
    )
    assert not (tmp_path / "tuning" / "ml-100k" / "mf" / "trials").exists()


def _tune_process(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [str(BIN / "gnnrec-tune"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # real worker processes (~20 s each); `make test-all` runs it
def test_two_workers_share_one_study_through_the_joblib_launcher(small, tmp_path):
    proc = _tune_process(
        tmp_path,
        "-m",
        "tune.worker=0,1",
        "launcher=joblib",
        "hydra.launcher.n_jobs=2",
        # trials of ~1 s each, so that the second process starts before the first ends them all
        *_args(small, "model=mf", "train.epochs=30", "tune.n_trials=6", "tune.phase=search"),
        "pruner=none",
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    study = _study_at(tmp_path / "tuning" / "ml-100k" / "mf", "mf-ml-100k")
    counted = [t for t in study.trials if not t.user_attrs.get(SURPLUS)]
    assert len(counted) == 6 and all(t.state == TrialState.COMPLETE for t in counted)
    workers = {t.user_attrs["worker"] for t in counted}
    assert len(workers) == 2  # both processes ran trials of the one study
    assert "mf-ml-100k: 6 trials (6 complete" in out


@pytest.mark.slow  # real worker processes (~20 s each); `make test-all` runs it
def test_a_killed_search_continues_and_repeats_the_lost_trial(small, tmp_path):
    args = _args(small, "model=mf", "train.epochs=40", "tune.n_trials=3", "tune.phase=search")
    args = (*args, "train.batch_size=8", "train.patience=40")
    root = tmp_path / "tuning" / "ml-100k" / "mf"
    proc = _tune_process(tmp_path, *args)
    deadline = time.monotonic() + 120
    while not (root / "trials" / "0001" / "metrics.jsonl").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-trial: trial 1 stays RUNNING in the journal
    proc.wait()
    lost = _study_at(root, "mf-ml-100k").trials[1]
    assert lost.state == TrialState.RUNNING
    again = _tune_process(tmp_path, *args)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    trials = _study_at(root, "mf-ml-100k").trials
    assert trials[1].state == TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get(RETRY_OF) == 1)
    assert retry.params == lost.params and retry.state == TrialState.COMPLETE
    t = tally(trials)
    assert (t.done, t.complete) == (3, 3)  # the budget: 3 trials, the lost one not counted
    assert "had lost their worker" in out
