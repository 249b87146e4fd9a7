"""Results files are atomic; the W&B logger never stops a run."""

from __future__ import annotations

import json
import math
import sys
import types

import pytest
from hydra.types import RunMode

from gnnrec.cli.train import sweep_group
from gnnrec.logging.files import append_jsonl, write_json_atomic, write_text_atomic
from gnnrec.logging.wandb_logger import WandbLogger


def test_json_is_written_atomically_and_nan_becomes_null(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "results.json", {"a": 1.5, "b": math.nan})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": None}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left


def test_failed_write_leaves_the_old_file_intact(tmp_path):
    path = write_text_atomic(tmp_path / "results.json", "old\n")

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("serialisation failed")

    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": Boom()})
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_jsonl_appends_one_line_per_row(tmp_path):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"epoch": 1, "loss": 0.5})
    append_jsonl(path, {"epoch": 2, "loss": math.inf})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": None}]


class FakeRun:
    def __init__(self, fail_on_log: bool) -> None:
        self.logged: list[tuple[dict, int]] = []
        self.summary: dict = {}
        self.finished: int | None = None
        self.fail_on_log = fail_on_log
        self.dir = "."

    def log(self, row: dict, step: int) -> None:
        if self.fail_on_log:
            raise OSError("disk full")
        self.logged.append((row, step))

    def finish(self, exit_code: int = 0) -> None:
        self.finished = exit_code


def fake_wandb(monkeypatch, *, fail_init: bool = False, fail_on_log: bool = False) -> dict:
    seen: dict = {}

    def init(**kwargs):
        seen["init"] = kwargs
        if fail_init:
            raise RuntimeError("no network")
        seen["run"] = FakeRun(fail_on_log)
        return seen["run"]

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    return seen


def test_wandb_logger_records_config_epochs_and_summary(monkeypatch, tmp_path):
    seen = fake_wandb(monkeypatch)
    logger = WandbLogger(project="p", save_dir=tmp_path, group="sweep-x", name="run")
    logger.start({"model": {"name": "mf"}})
    logger.log_epoch(1, {"train/loss": 0.5, "valid/recall@20": math.nan})
    logger.log_results({"test/recall@20": 0.2, "model": "mf", "versions": {"torch": "2"}})
    logger.finish()
    init = seen["init"]
    assert init["mode"] == "offline" and init["group"] == "sweep-x" and init["dir"] == str(tmp_path)
    assert init["config"] == {"model": {"name": "mf"}}
    run = seen["run"]
    assert run.logged == [({"train/loss": 0.5}, 1)]  # NaN is not sent
    assert run.summary == {"test/recall@20": 0.2, "model": "mf"}
    assert run.finished == 0


def test_wandb_failures_only_warn(monkeypatch, tmp_path, caplog):
    fake_wandb(monkeypatch, fail_init=True)
    logger = WandbLogger(save_dir=tmp_path)
    logger.start({})
    logger.log_epoch(1, {"x": 1.0})  # no run: silently nothing
    logger.finish()
    assert "W&B could not start (no network)" in caplog.text

    seen = fake_wandb(monkeypatch, fail_on_log=True)
    logger = WandbLogger(save_dir=tmp_path)
    logger.start({})
    logger.log_epoch(1, {"x": 1.0})
    assert "W&B log failed (disk full); continuing without W&B" in caplog.text
    logger.log_results({"y": 1.0})
    assert seen["run"].summary == {}  # turned off after the failure


def test_sweep_group_applies_only_without_an_explicit_group(monkeypatch, tmp_path):
    seen = fake_wandb(monkeypatch)
    WandbLogger(save_dir=tmp_path).start({}, default_group="sweep-a")
    assert seen["init"]["group"] == "sweep-a"
    WandbLogger(save_dir=tmp_path, group="mine").start({}, default_group="sweep-a")
    assert seen["init"]["group"] == "mine"


def test_wandb_mode_is_checked():
    with pytest.raises(ValueError, match="offline, online or disabled"):
        WandbLogger(mode="sometimes")


def test_multirun_jobs_share_a_group():
    assert sweep_group(RunMode.RUN, "multirun/2026-01-01/10-00-00") is None
    assert sweep_group(RunMode.MULTIRUN, "multirun/2026-01-01/10-00-00") == (
        "sweep-multirun_2026-01-01_10-00-00"
    )


def test_runs_are_tagged_with_model_dataset_and_sweep(monkeypatch, tmp_path):
    seen = fake_wandb(monkeypatch)
    config = {"model": {"name": "lightgcn"}, "dataset": {"name": "ml-100k"}}
    WandbLogger(save_dir=tmp_path, tags=["mine"]).start(config, default_group="sweep-a")
    assert seen["init"]["tags"] == ["mine", "model:lightgcn", "dataset:ml-100k", "sweep-a"]
