"""Sweeps beyond the basic launcher: parallel joblib jobs, the SLURM launcher's config and its job
function under submitit's local executor, and named experiments."""

from __future__ import annotations

import json

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
