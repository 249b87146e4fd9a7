"""Faults a long sweep meets, each with a real ``gnnrec-train`` process: resuming
into another configuration, diverging training, a second writer, pre-emption
signals (plain and through submitit's local executor)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_checkpoint import without_times
from tests.test_cli_train import BIN, gnnrec_train

QUIET = ("logger=none", "train.progress=false")
MF = ("model=mf", "train.epochs=12", "train.patience=100", "train.checkpoint_every=1", *QUIET)
# One thread: the faults tested here must end with *exactly* the uninterrupted run's
# metrics, a property of resume, not of a platform's threaded arithmetic (two-thread
# runs of this VM once differed by thread through MKL's sqrt in Adam; the trainer now
# uses the fused Adam, and test_cli_train checks two-thread determinism).
ENV = {
    **os.environ,
    "HYDRA_FULL_ERROR": "0",
    "WANDB_MODE": "offline",
    "OMP_NUM_THREADS": "1",
}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "gnnrec-train"), *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_epochs(proc: subprocess.Popen, run_dir: Path, epochs: int) -> None:
    """Wait until ``run_dir/metrics.jsonl`` has ``epochs`` lines (the run still going)."""
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= epochs:
            return
        time.sleep(0.02)
    raise AssertionError(f"the run ended (or stalled) before epoch {epochs}: {proc.poll()}")


def final_metrics(run_dir: Path) -> dict[str, float]:
    results = json.loads((run_dir / "results.json").read_text())
    return {k: v for k, v in results.items() if k.startswith(("valid/", "test/"))}


def epoch_rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return without_times([json.loads(line) for line in lines])


def train(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return gnnrec_train(*args, cwd=cwd, check=check, threads=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run (``MF``) that every interrupted one must equal."""
    folder = tmp_path_factory.mktemp("reference")
    train(*MF, "hydra.run.dir=full", cwd=folder)
    return folder / "full"


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_metrics(tmp_path, reference):
    proc = start(*MF, "hydra.run.dir=killed", cwd=tmp_path)
    wait_for_epochs(proc, tmp_path / "killed", 4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "results.json").exists()
    assert (tmp_path / "killed" / "checkpoint.pt").is_file()
    resumed = train(*MF, "train.resume=true", "hydra.run.dir=killed", cwd=tmp_path)
    assert "resumed from" in resumed.stdout
    # the kernel released the killed run's lock: the resumed run took it over
    assert "took over the lock of pid" in resumed.stdout
    assert final_metrics(tmp_path / "killed") == final_metrics(reference)
    assert epoch_rows(tmp_path / "killed") == epoch_rows(reference)  # none lost or repeated
    again = train(*MF, "train.resume=true", "hydra.run.dir=killed", cwd=tmp_path)
    assert "finished already (train.resume=true), skipped" in again.stdout


def test_resuming_into_another_configuration_is_refused_and_writes_nothing(tmp_path):
    train(*MF, "train.epochs=2", "hydra.run.dir=run", cwd=tmp_path)
    before = snapshot(tmp_path / "run")
    proc = train(
        "model=lightgcn",
        "train.resume=true",
        *QUIET,
        "hydra.run.dir=run",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("gnnrec-train: error: run directory ")
    assert "holds a run of another configuration" in line
    assert "model.name: 'mf' -> 'lightgcn'" in line
    assert snapshot(tmp_path / "run") == before  # config.yaml still says MF; nothing touched


def test_a_diverging_run_stops_and_its_sweep_reports_it_failed(tmp_path):
    proc = train(
        "-m",
        "model=mf",
        "train.epochs=3",
        "train.lr=1e6,0.005",
        *QUIET,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert "1 job(s) finished, 1 failed" in proc.stdout
    assert "failed 0-mf: training diverged at epoch 1, step 2 of" in proc.stdout
    diverged = json.loads((tmp_path / "sweep/0-mf/results.json").read_text())
    assert diverged["status"] == "diverged" and diverged["diverged_epoch"] == 1
    assert not any(k.startswith("test/") for k in diverged)  # test was never computed
    assert "learning rate train.lr=1e+06" in (tmp_path / "sweep/0-mf/error.txt").read_text()
    assert json.loads((tmp_path / "sweep/1-mf/results.json").read_text())["status"] == "finished"
    # a single run: one line, exit 2
    single = train(
        "model=mf", "train.lr=1e6", *QUIET, "hydra.run.dir=one", cwd=tmp_path, check=False
    )
    assert single.returncode == 2 and "Traceback" not in single.stderr
    assert "gnnrec-train: error: training diverged at epoch 1" in single.stderr


def test_a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(tmp_path):
    first = start("model=mf", *QUIET, "train.checkpoint_every=1", "hydra.run.dir=run", cwd=tmp_path)
    try:
        wait_for_epochs(first, tmp_path / "run", 2)
        hydra_files = snapshot(tmp_path / "run" / ".hydra")
        second = train("model=mf", "seed=7", *QUIET, "hydra.run.dir=run", cwd=tmp_path, check=False)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert f"run directory {tmp_path / 'run'} is in use by pid {first.pid} on " in line
        assert snapshot(tmp_path / "run" / ".hydra") == hydra_files  # seed=7 never written
        assert not (tmp_path / "run" / "error.txt").exists()
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
        first.wait()
    # a new run into the directory (no resume: it replaces the killed one's files)
    third = train("model=mf", "train.epochs=1", *QUIET, "hydra.run.dir=run", cwd=tmp_path)
    assert f"took over the lock of pid {first.pid}" in third.stdout
    assert "holds a previous run: replaced" in third.stdout
    assert json.loads((tmp_path / "run" / "results.json").read_text())["status"] == "finished"


def test_sigterm_writes_a_checkpoint_and_the_next_run_ends_as_an_uninterrupted_one(
    tmp_path, reference
):
    proc = start(*MF, "hydra.run.dir=cut", cwd=tmp_path)
    wait_for_epochs(proc, tmp_path / "cut", 3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "gnnrec-train: SIGTERM: stopped after writing the checkpoint of epoch" in stderr
    marker = json.loads((tmp_path / "cut" / "interrupted.json").read_text())
    assert marker["signal"] == "SIGTERM" and marker["epoch"] >= 3
    assert not (tmp_path / "cut" / "results.json").exists()
    # the same command again (no train.resume): it continues where it stopped
    again = train(*MF, "hydra.run.dir=cut", cwd=tmp_path)
    assert "its checkpoint was written on a stop signal" in again.stdout
    assert final_metrics(tmp_path / "cut") == final_metrics(reference)
    assert epoch_rows(tmp_path / "cut") == epoch_rows(reference)
    assert not (tmp_path / "cut" / "interrupted.json").exists()


def test_submitit_requeues_a_preempted_job_and_the_sweep_ends_as_an_uninterrupted_one(
    tmp_path, reference
):
    sweep = start(
        "-m", "launcher=submitit_local", *MF, "hydra.sweep.dir=sweep", cwd=tmp_path
    )  # fmt: skip
    try:
        job = tmp_path / "sweep" / "0-mf"
        wait_for_epochs(sweep, job, 3)
        # the job's own process holds the run directory's lock; submitit's signal to it
        task = json.loads((job / ".gnnrec.lock").read_text())["pid"]
        os.kill(task, signal.SIGUSR2)
        _, stderr = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
        sweep.wait()
    assert sweep.returncode == 0, stderr[-3000:]
    logs = "".join(p.read_text() for p in (tmp_path / "sweep" / ".submitit").rglob("*_log.*"))
    assert "SIGUSR2: stopped after writing the checkpoint of epoch" in logs
    assert "Requeued job" in logs and "continuing its checkpoint" in logs
    assert final_metrics(job) == final_metrics(reference)
    assert epoch_rows(job) == epoch_rows(reference)
