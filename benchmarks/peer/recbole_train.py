"""Train RecBole 1.2.1's LightGCN on an exported gnnrec split (peer environment only).

    .peer-env/bin/python benchmarks/peer/recbole_train.py DATA_PATH DATASET OUT_DIR \
        [--launched-at T] [--time-limit S] [--epochs 300] [--n-layers 3] \
        [--embedding-size 64] [--eval-batch-size N]

Run by ``benchmarks/time_to_accuracy.py``. ``DATA_PATH/DATASET`` holds
``DATASET.{train,valid,test}.inter`` and ``DATASET.item`` as written by
``gnnrec-data export --format recbole``; RecBole reads them as benchmark files
(``benchmark_filename: [train, valid, test]``), so it trains and validates on
gnnrec's split.

The steps are those of ``recbole.quick_start.run_recbole`` (Config,
``init_seed``, ``init_logger``, ``create_dataset``, ``data_preparation``, the
model, ``Trainer.fit`` with checkpoints, ``Trainer.evaluate(test,
load_best_model=True)``) without its FLOPs count and environment table, and
imported from the submodules so that ``ray`` (imported by
``recbole.quick_start``) is not loaded. RecBole's defaults stay: Adam,
``learning_rate`` 0.001, ``train_batch_size`` 2048, LightGCN's ``reg_weight``
1e-5, one uniform negative per positive (RecBole's sampler excludes the
user's training items), ``stopping_step`` 10, ``eval_batch_size`` 4096;
set here: ``n_layers`` 3, ``embedding_size`` 64, ``eval_step`` 1,
``valid_metric`` recall@20, ``topk`` [20], ``metrics`` [Recall, NDCG],
full-sort evaluation, ``seed`` 2026 (gnnrec's), CPU.

The Trainer is hooked, not changed: ``_train_epoch`` and ``_valid_epoch`` are
timed, and ``fit``'s ``callback_fn`` (called after early stopping and the
checkpoint of an improved epoch) appends one row per epoch to
``OUT_DIR/epochs.jsonl``: ``epoch`` (from 1), ``wall`` = ``time.time()``,
``train_s``, ``eval_s``, ``loss``, ``valid/recall@20``, ``valid/ndcg@20``.
With ``--time-limit`` the run stops at the first mini-batch or validation
that ends after ``launched_at + limit`` (such a validation does not count),
then tests the best checkpoint. ``OUT_DIR/result.json`` holds the test
result and the run's facts.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import recbole
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.model.general_recommender import LightGCN
from recbole.trainer import Trainer
from recbole.utils import init_logger, init_seed

MONITOR = "valid/recall@20"


class TimeUp(Exception):
    """The time limit passed."""


class TimedTrainer(Trainer):
    """RecBole's Trainer with per-epoch timings and an optional deadline."""

    def __init__(self, config, model, deadline: float) -> None:
        super().__init__(config, model)
        self.deadline = deadline
        self.train_s = math.nan
        self.eval_s = math.nan
        self.last_loss = math.nan
        self.last_valid: dict = {}

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        inner = loss_func or self.model.calculate_loss

        def checked_loss(interaction):
            if time.time() > self.deadline:
                raise TimeUp
            return inner(interaction)

        t = time.time()
        loss = super()._train_epoch(train_data, epoch_idx, checked_loss, show_progress)
        self.train_s = time.time() - t
        self.last_loss = float(sum(loss) if isinstance(loss, tuple) else loss) / len(train_data)
        return loss

    def _valid_epoch(self, valid_data, show_progress=False):
        t = time.time()
        score, result = super()._valid_epoch(valid_data, show_progress)
        if time.time() > self.deadline:  # before early stopping and the checkpoint see it
            raise TimeUp
        self.eval_s = time.time() - t
        self.last_valid = dict(result)
        return score, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_path")
    parser.add_argument("dataset")
    parser.add_argument("out_dir")
    parser.add_argument("--launched-at", type=float, default=None)
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--n-layers", type=int, default=3)
    parser.add_argument("--embedding-size", type=int, default=64)
    parser.add_argument("--eval-batch-size", type=int, default=None, help="default: RecBole's")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    launched = time.time() if args.launched_at is None else args.launched_at
    deadline = math.inf if args.time_limit is None else launched + args.time_limit
    out = Path(args.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "epochs.jsonl"
    rows_path.unlink(missing_ok=True)

    settings = {
        "data_path": str(Path(args.data_path).resolve()),
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"], "item": ["item_id"]},
        "n_layers": args.n_layers,
        "embedding_size": args.embedding_size,
        "epochs": args.epochs,
        "eval_step": 1,
        "valid_metric": "recall@20",
        "topk": [20],
        "metrics": ["Recall", "NDCG"],
        "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
        "seed": args.seed,
        "device": "cpu",
        "use_gpu": False,
        "checkpoint_dir": str(out / "saved"),
        "show_progress": False,
        "log_wandb": False,
    }
    if args.eval_batch_size is not None:
        settings["eval_batch_size"] = args.eval_batch_size
    config = Config(model="LightGCN", dataset=args.dataset, config_dict=settings)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    log = logging.getLogger()
    dataset = create_dataset(config)
    log.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = LightGCN(config, train_data._dataset).to(config["device"])
    trainer = TimedTrainer(config, model, deadline)

    def on_epoch(epoch_idx: int, valid_score: float) -> None:
        row = {
            "epoch": epoch_idx + 1,
            "wall": time.time(),
            "train_s": trainer.train_s,
            "eval_s": trainer.eval_s,
            "loss": trainer.last_loss,
            MONITOR: float(valid_score),
            "valid/ndcg@20": float(trainer.last_valid.get("ndcg@20", math.nan)),
        }
        with rows_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    train_start = time.time()
    stopped = "early_stopping or max_epochs"
    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=on_epoch)
    except TimeUp:
        stopped = "time_limit"
    text = rows_path.read_text() if rows_path.exists() else ""
    rows = [json.loads(line) for line in text.splitlines()]
    if stopped != "time_limit":
        stopped = "max_epochs" if len(rows) >= args.epochs else "early_stopping"
    best = max(rows, key=lambda r: r[MONITOR], default=None)
    test: dict = {}
    if best is not None and Path(trainer.saved_model_file).exists():
        test = dict(trainer.evaluate(test_data, load_best_model=True, show_progress=False))
    result = {
        "tool": "recbole",
        "launched_at": launched,
        "train_start_wall": train_start,
        "epochs_run": len(rows),
        "stopped": stopped,
        "best_epoch": best["epoch"] if best else None,
        "best_valid_recall@20": best[MONITOR] if best else None,
        "test/recall@20": test.get("recall@20"),
        "test/ndcg@20": test.get("ndcg@20"),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "split": {
            "train": len(train_data._dataset),
            "valid": len(valid_data._dataset),
            "test": len(test_data._dataset),
            # RecBole's id 0 is padding
            "users": int(dataset.user_num) - 1,
            "items": int(dataset.item_num) - 1,
        },
        "settings": {
            key: config[key]
            for key in (
                "n_layers",
                "embedding_size",
                "learning_rate",
                "train_batch_size",
                "reg_weight",
                "train_neg_sample_args",
                "stopping_step",
                "eval_batch_size",
                "epochs",
                "seed",
                "eval_args",
            )
        },
        "versions": {
            "recbole": recbole.__version__,
            "torch": torch.__version__,
            "python": sys.version.split()[0],
        },
        "threads": torch.get_num_threads(),
    }
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
