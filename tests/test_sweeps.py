"""Sweeps beyond the basic launcher: Optuna search on a validation metric (continued
from its stored study), parallel joblib jobs, the SLURM launcher's config and its job
function under submitit's local executor, and named experiments."""

from __future__ import annotations

import json

import optuna
import pytest
from hydra import compose, initialize_config_module

from tests.test_cli_train import gnnrec_train, run_dirs

QUIET = ("logger=none", "train.progress=false")


def compose_train(*overrides: str, return_hydra_config: bool = False):
    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        return compose(
            config_name="train", overrides=list(overrides), return_hydra_config=return_hydra_config
        )


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_optuna_search_maximises_the_validation_metric_and_continues_its_study(tmp_path):
    args = ("hparams_search=lightgcn_optuna", "train.epochs=1", *QUIET)
    gnnrec_train(*args, "hydra.sweeper.n_trials=2", "hydra.sweep.dir=first", cwd=tmp_path)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.load_study(study_name="lightgcn-ml-100k", storage=storage)
    assert len(study.trials) == 2
    # each trial's value is its run's VALIDATION recall@20, never a test metric
    runs = [json.loads((d / "results.json").read_text()) for d in run_dirs(tmp_path / "first")]
    assert sorted(t.value for t in study.trials) == sorted(r["valid/recall@20"] for r in runs)
    assert {t.params["model.num_layers"] for t in study.trials} <= {1, 2, 3, 4}
    gnnrec_train(*args, "hydra.sweeper.n_trials=1", "hydra.sweep.dir=second", cwd=tmp_path)
    study = optuna.load_study(study_name="lightgcn-ml-100k", storage=storage)
    assert len(study.trials) == 3  # the second command continued the stored study


def test_a_diverging_trial_is_a_failed_optuna_trial_and_the_study_goes_on(tmp_path):
    """Optuna 2.10 refuses a NaN value (the sweep used to stop there): a failed job is a
    FAIL trial, the next trials run, the sweep report lists the failure."""
    space = '{train.lr:"choice(1000000.0, 0.005)",train.reg_weight:"choice(0.0001)",'
    space += 'model.num_layers:"choice(1)"}'
    proc = gnnrec_train(
        "hparams_search=lightgcn_optuna",
        "train.epochs=1",
        *QUIET,
        "hydra.sweeper.n_trials=3",
        f"hydra.sweeper.params={space}",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2  # the sweep ends, and says a job failed
    study = optuna.load_study(
        study_name="lightgcn-ml-100k", storage=f"sqlite:///{tmp_path / 'optuna.db'}"
    )
    states = {t.params["train.lr"]: t.state.name for t in study.trials}
    assert len(study.trials) == 3 and states == {1e6: "FAIL", 0.005: "COMPLETE"}
    assert "failed" in proc.stdout and "training diverged at epoch 1" in proc.stdout


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path):
    gnnrec_train(
        "-m",
        "launcher=joblib",
        "model=mostpop,itemknn",
        *QUIET,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    done = {
        json.loads((d / "results.json").read_text())["model"] for d in run_dirs(tmp_path / "sweep")
    }
    assert done == {"mostpop", "itemknn"}


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_slurm_launcher_composes_and_its_jobs_run_under_submitit_locally(tmp_path):
    cfg = compose_train("launcher=slurm", return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert cfg.hydra.launcher.gpus_per_node == 1
    # the same job function, executed by submitit's local executor (no cluster here)
    gnnrec_train(
        "-m",
        "launcher=submitit_local",
        "model=mostpop",
        *QUIET,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert (tmp_path / "sweep" / ".submitit").is_dir()  # submitit ran the job
    (run,) = run_dirs(tmp_path / "sweep")
    assert json.loads((run / "results.json").read_text())["model"] == "mostpop"


def test_a_named_experiment_pins_dataset_model_and_evaluation():
    cfg = compose_train("experiment=beauty_diversity")
    assert cfg.dataset.name == "amazon-beauty" and cfg.model.name == "dgrec"
    assert cfg.split._target_.endswith("predefined_split")  # the dataset's own split
    assert list(cfg.eval.rerank) == ["mmr", "calibrated"] and cfg.eval.save_per_user
