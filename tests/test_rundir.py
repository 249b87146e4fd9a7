"""Run-directory guards: the lock, the reuse decision and the configuration comparison."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml

from gnnrec.errors import RunDirError
from gnnrec.logging.rundir import (
    INTERRUPTED_NAME,
    LOCK_NAME,
    RunDirLock,
    clear_run_files,
    config_differences,
    flatten,
    plan_reuse,
)

MF = {"seed": 1, "model": {"name": "mf", "dim": 64}, "train": {"epochs": 10, "lr": 0.005}}


def read(path):
    return yaml.safe_load(path.read_text())


def stored_run(folder, config, *files):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    for name in files:
        (folder / name).write_text("{}")
    return folder


def test_flatten_joins_nested_keys_and_keeps_lists():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": {},
    }


def test_config_differences_name_the_keys_model_first():
    lightgcn = {
        "seed": 1,
        "model": {"name": "lightgcn", "num_layers": 3, "dim": 64},
        "train": {"epochs": 10, "lr": 0.01},
    }
    assert config_differences(MF, lightgcn) == [
        "model.name: 'mf' -> 'lightgcn'",
        "model.num_layers: (absent) -> 3",
        "train.lr: 0.005 -> 0.01",
    ]


def test_keys_that_may_change_on_resume_are_not_differences():
    new = {
        **MF,
        "train": {"epochs": 30, "lr": 0.005, "resume": True, "progress": False},
        "logger": {"mode": "online"},
        "device": "cuda",
    }
    assert config_differences({**MF, "logger": {"mode": "offline"}, "device": "cpu"}, new) == []
    # epochs may be raised, not lowered (a shorter run is another run)
    lowered = {**MF, "train": {"epochs": 5, "lr": 0.005}}
    assert config_differences(MF, lowered) == ["train.epochs: 10 -> 5"]


def test_a_fresh_directory_starts_fresh(tmp_path):
    assert plan_reuse(tmp_path / "new", MF, resume=True, read_config=read).action == "fresh"


def test_without_resume_a_previous_run_is_replaced(tmp_path):
    run = stored_run(tmp_path / "r", MF, "checkpoint.pt")
    plan = plan_reuse(run, {**MF, "seed": 2}, resume=False, read_config=read)
    assert plan.action == "fresh" and "replaced" in plan.note


def test_resume_continues_a_checkpoint_of_the_same_configuration(tmp_path):
    run = stored_run(tmp_path / "r", MF, "checkpoint.pt")
    assert plan_reuse(run, MF, resume=True, read_config=read).action == "resume"


def test_resume_skips_a_finished_run(tmp_path):
    run = stored_run(tmp_path / "r", MF, "checkpoint.pt", "results.json")
    plan = plan_reuse(run, MF, resume=True, read_config=read)
    assert plan.action == "finished" and "skipped" in plan.note


def test_resume_into_another_configuration_is_refused_with_the_keys(tmp_path):
    run = stored_run(tmp_path / "r", MF, "checkpoint.pt")
    other = {**MF, "model": {"name": "lightgcn", "dim": 64}}
    with pytest.raises(RunDirError) as err:
        plan_reuse(run, other, resume=True, read_config=read)
    message = str(err.value)
    assert "holds a run of another configuration" in message
    assert "model.name: 'mf' -> 'lightgcn'" in message and "1 key(s) differ" in message


def test_a_checkpoint_without_its_configuration_is_refused(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(RunDirError, match=r"no config\.yaml"):
        plan_reuse(run, MF, resume=True, read_config=read)


def test_a_checkpoint_written_on_a_stop_signal_is_continued_without_resume(tmp_path):
    run = stored_run(tmp_path / "r", MF, "checkpoint.pt", INTERRUPTED_NAME)
    plan = plan_reuse(run, MF, resume=False, read_config=read)
    assert plan.action == "resume" and "stop signal" in plan.note
    with pytest.raises(RunDirError):  # and only with its own configuration
        plan_reuse(run, {**MF, "seed": 3}, resume=False, read_config=read)


def test_clear_run_files_removes_the_previous_runs_files_only(tmp_path):
    run = stored_run(tmp_path / "r", MF, "results.json", "error.txt", "checkpoint.pt", "mine.txt")
    (run / "split").mkdir()
    (run / "split" / "train.tsv").write_text("x")
    clear_run_files(run)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "mine.txt"]


def test_a_second_lock_on_a_directory_is_refused_until_the_first_is_released(tmp_path):
    first = RunDirLock(tmp_path / "run").acquire()
    holder = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid()
    # flock belongs to the open file: a second open in the same process conflicts too
    with pytest.raises(RunDirError, match=rf"in use by pid {os.getpid()} on "):
        RunDirLock(tmp_path / "run").acquire()
    first.release()
    with RunDirLock(tmp_path / "run") as again:
        assert again.stale is None  # released properly: nothing stale


def test_a_lock_of_a_killed_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from gnnrec.logging.rundir import RunDirLock; "
            f"RunDirLock({str(run)!r}).acquire(); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirError, match=f"in use by pid {holder.pid}"):
            RunDirLock(run).acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        lock = RunDirLock(run).acquire()  # the kernel released the dead holder's lock
        assert lock.stale is not None and f"pid {holder.pid}" in lock.stale
        lock.release()
    finally:
        holder.kill()
        holder.wait()
