"""Checkpoints and resume: a killed run continues to the metrics of an uninterrupted one."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time

import pytest
import torch

from gnnrec.data.split import temporal_split
from gnnrec.errors import DataError
from gnnrec.evaluation.evaluator import Evaluator
from gnnrec.graph.build import build_graph
from gnnrec.models.lightgcn import LightGCN
from gnnrec.sampling import TrainingPairs
from gnnrec.train.checkpoint import load_checkpoint, save_checkpoint
from gnnrec.train.loop import Trainer
from gnnrec.train.preemption import StopSignals, TrainingInterrupted
from tests.test_cli_train import BIN


def fit(split, tmp_path, epochs, resume=False, stop=None):
    torch.manual_seed(0)
    model = LightGCN.from_graph(
        build_graph(split), embedding_dim=8, num_layers=2, message_dropout=0.3
    )  # dropout: the global RNG matters too
    pairs = TrainingPairs.from_split(split)
    trainer = Trainer(
        epochs=epochs,
        batch_size=8,
        monitor="recall@4",
        progress=False,
        checkpoint_every=1,
        resume=resume,
    )
    evaluator = Evaluator(split, ks=[4])
    restored = []
    result = trainer.fit(
        model,
        evaluator,
        pairs.users,
        pairs.items,
        torch.Generator().manual_seed(0),
        checkpoint=tmp_path / "ckpt.pt",
        on_resume=restored.append,
        stop=stop,
    )
    return result, evaluator.evaluate(model.scorer(), "test").metrics, restored


def without_times(history):
    clocks = ("train/epoch_time_s", "train/elapsed_s")
    return [{k: v for k, v in row.items() if k not in clocks} for row in history]


def test_resuming_equals_an_uninterrupted_fit(tiny_dataset, tmp_path):
    split = temporal_split(tiny_dataset)
    full, full_test, _ = fit(split, tmp_path / "full", epochs=6)
    fit(split, tmp_path / "cut", epochs=3)  # "killed" after epoch 3: its checkpoint remains
    assert load_checkpoint(tmp_path / "cut" / "ckpt.pt")["epoch"] == 3
    resumed, resumed_test, restored = fit(split, tmp_path / "cut", epochs=6, resume=True)
    assert resumed.resumed_from == 3 and len(restored[0]) == 3
    assert without_times(resumed.history) == without_times(full.history)
    assert resumed.best_epoch == full.best_epoch
    assert json.dumps(resumed_test, sort_keys=True) == json.dumps(full_test, sort_keys=True)


def stop_at_call(n):
    """A stop request that SIGTERM answers from its ``n``-th poll on."""
    calls = [0]

    def requested():
        calls[0] += 1
        return signal.SIGTERM if calls[0] >= n else None

    return requested


@pytest.mark.parametrize(
    ("epoch", "step", "kept_epoch"),
    # before epoch 3's third step (two of its steps are done and must be undone); after epoch 1
    [(3, 3, 2), (1, None, 1)],
)
def test_a_stop_request_writes_a_checkpoint_that_resumes_exactly(
    tiny_dataset, tmp_path, epoch, step, kept_epoch
):
    split = temporal_split(tiny_dataset)
    steps = math.ceil(len(TrainingPairs.from_split(split).users) / 8)
    assert steps >= 3
    # the trainer polls before every step and once after the epoch: steps + 1 per epoch
    poll = (epoch - 1) * (steps + 1) + (step if step is not None else steps + 1)
    full, full_test, _ = fit(split, tmp_path / "full", epochs=5)
    with pytest.raises(TrainingInterrupted) as stopped:
        fit(split, tmp_path / "cut", epochs=5, stop=stop_at_call(poll))
    assert stopped.value.signum == signal.SIGTERM and stopped.value.checkpoint
    state = load_checkpoint(tmp_path / "cut" / "ckpt.pt")
    assert state["epoch"] == stopped.value.epoch == kept_epoch
    assert state["interrupted_by"] == signal.SIGTERM and len(state["history"]) == kept_epoch
    resumed, resumed_test, _ = fit(split, tmp_path / "cut", epochs=5, resume=True)
    assert resumed.resumed_from == kept_epoch
    assert without_times(resumed.history) == without_times(full.history)
    assert json.dumps(resumed_test, sort_keys=True) == json.dumps(full_test, sort_keys=True)


def test_stop_signals_turn_a_signal_into_a_request_and_restore_the_handler():
    before = signal.getsignal(signal.SIGUSR1)
    with StopSignals(("SIGUSR1",)) as signals:
        assert signals.requested() is None
        os.kill(os.getpid(), signal.SIGUSR1)  # would end the process without the handler
        deadline = time.monotonic() + 5
        while signals.requested() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert signals.requested() == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) is before
    forwarded = []
    signal.signal(signal.SIGUSR2, lambda signum, frame: forwarded.append(signum))
    try:
        with StopSignals(("SIGUSR2",)) as signals:
            pass
        assert signals.forward(signal.SIGUSR2) and forwarded == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)


def test_without_resume_the_checkpoint_is_ignored(tiny_dataset, tmp_path):
    split = temporal_split(tiny_dataset)
    fit(split, tmp_path, epochs=2)
    again, _, restored = fit(split, tmp_path, epochs=2)
    assert again.resumed_from == 0 and not restored


def test_a_checkpoint_holds_only_tensors_and_plain_containers(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1, "w": torch.ones(2)})
    assert load_checkpoint(path)["epoch"] == 1
    torch.save({"format": "gnnrec-checkpoint-1", "obj": Evaluator}, tmp_path / "evil.pt")
    with pytest.raises(DataError, match="not a readable gnnrec checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")  # weights_only refuses pickled classes
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"bad\.pt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_init_from_starts_a_run_from_another_runs_best_weights(tmp_path):
    """init_from loads a finished run's best weights: zero further epochs of training
    (lr tiny) reproduce its test metrics; a mismatched model is a one-line error."""

    def train(*args):
        return subprocess.run(
            [str(BIN / "gnnrec-train"), "logger=none", "train.progress=false", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )

    first = train("train.epochs=3", "hydra.run.dir=a")
    assert first.returncode == 0, first.stderr[-2000:]
    a = json.loads((tmp_path / "a/results.json").read_text())
    # one epoch at a learning rate too small to move the weights' ranking
    second = train(
        "train.epochs=1",
        "train.lr=1e-12",
        f"init_from={tmp_path}/a/checkpoint.pt",
        "hydra.run.dir=b",
    )
    assert second.returncode == 0, second.stderr[-2000:]
    b = json.loads((tmp_path / "b/results.json").read_text())
    assert b["test/recall@20"] == pytest.approx(a["test/recall@20"], abs=1e-9)
    assert b["test/ndcg@20"] == pytest.approx(a["test/ndcg@20"], abs=1e-9)
    wrong = train(
        "train.epochs=1", "model.embedding_dim=8", f"init_from={tmp_path}/a/checkpoint.pt"
    )
    assert wrong.returncode == 2
    assert "do not fit this model" in wrong.stderr
