"""Time RecBole 1.2.1's full-sort evaluation of fixed embeddings (peer environment only).

    .peer-env/bin/python benchmarks/peer/recbole_fullsort.py FOLDER OUT.json \
        [--device cpu] [--users-per-batch 504] [--repeats 1]

FOLDER holds ``synth.{train,valid,test}.inter`` and ``synth.item`` (RecBole
atomic files written by ``benchmarks/eval_speed.py`` from gnnrec's split) and
``user_emb.npy`` / ``item_emb.npy`` indexed by gnnrec's ids. A RecBole model
whose ``full_sort_predict`` is the embedding dot product (as in RecBole's
LightGCN) is evaluated with ``Trainer.evaluate`` on the test part, the path
RecBole's own runs take: per batch of users the score matmul, masking of
train+valid items, top-K, the positive-item matrix, and at the end its metric
classes. Only ``Trainer.evaluate`` is timed; building the dataset and the
dataloaders is not.

Two things differ from a stock RecBole install, both stated in the output:

- ``Collector.get_data_struct`` is patched in this process so that the
  catalogue metrics run (stock 1.2.1 calls ``.cpu()`` on the integer
  ``data.num_items`` and fails, see ``../shared/peers/recbole.md``);
- ``TailPercentage`` is not requested: its list-membership loop is
  O(users x K x tail items), about 5e9 steps here (hours).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.evaluator.collector import Collector
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.trainer import Trainer
from recbole.utils import InputType, init_seed

METRICS = [
    "Recall",
    "NDCG",
    "Precision",
    "Hit",
    "MRR",
    "MAP",
    "ItemCoverage",
    "AveragePopularity",
    "GiniIndex",
    "ShannonEntropy",
]


def _get_data_struct(self):  # the stock version, with .cpu() only on tensors
    for key, value in self.data_struct._data_dict.items():
        if isinstance(value, torch.Tensor):
            self.data_struct._data_dict[key] = value.cpu()
    returned_struct = copy.deepcopy(self.data_struct)
    for key in ["rec.topk", "rec.meanrank", "rec.score", "rec.items", "data.label"]:
        if key in self.data_struct:
            del self.data_struct[key]
    return returned_struct


Collector.get_data_struct = _get_data_struct


class FixedEmbeddings(GeneralRecommender):
    """Dot-product scores of given embeddings, RecBole-side."""

    input_type = InputType.PAIRWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        folder = Path(config["data_path"])
        user_emb = np.load(folder / "user_emb.npy")
        item_emb = np.load(folder / "item_emb.npy")
        # RecBole renumbers tokens (id 0 is padding); the tokens are gnnrec's ids.
        users = dataset.field2id_token[self.USER_ID]
        items = dataset.field2id_token[self.ITEM_ID]
        u = np.zeros((len(users), user_emb.shape[1]), dtype=np.float32)
        i = np.zeros((len(items), item_emb.shape[1]), dtype=np.float32)
        u[1:] = user_emb[users[1:].astype(np.int64)]
        i[1:] = item_emb[items[1:].astype(np.int64)]
        self.user_embedding = torch.nn.Parameter(torch.from_numpy(u))
        self.item_embedding = torch.nn.Parameter(torch.from_numpy(i))

    def calculate_loss(self, interaction):
        raise NotImplementedError

    def predict(self, interaction):
        u = self.user_embedding[interaction[self.USER_ID]]
        return (u * self.item_embedding[interaction[self.ITEM_ID]]).sum(-1)

    def full_sort_predict(self, interaction):
        u = self.user_embedding[interaction[self.USER_ID]]
        return torch.matmul(u, self.item_embedding.T).view(-1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("out")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--users-per-batch", type=int, default=504)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    folder = Path(args.folder).resolve()
    num_items = len((folder / "synth.item").read_text().splitlines()) - 1
    config = Config(
        model=FixedEmbeddings,
        dataset="synth",
        config_dict={
            "data_path": str(folder.parent),
            "benchmark_filename": ["train", "valid", "test"],
            "load_col": {"inter": ["user_id", "item_id"], "item": ["item_id"]},
            "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
            "metrics": METRICS,
            "topk": [args.k],
            "valid_metric": f"Recall@{args.k}",
            "metric_decimal_place": 10,
            "eval_batch_size": args.users_per_batch * (num_items + 1),
            "device": args.device,
            "use_gpu": args.device != "cpu",
            "checkpoint_dir": str(folder / "saved"),
            "show_progress": False,
            "seed": 0,
            "reproducibility": True,
            "log_wandb": False,
            "state": "ERROR",
        },
    )
    logging.getLogger().setLevel(logging.ERROR)
    init_seed(config["seed"], config["reproducibility"])
    t0 = time.perf_counter()
    dataset = create_dataset(config)
    train_data, _, test_data = data_preparation(config, dataset)
    model = FixedEmbeddings(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)
    trainer.eval_collector.data_collect(train_data)
    prepare_s = time.perf_counter() - t0
    times, result = [], {}
    for _ in range(args.repeats):
        if args.device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        result = trainer.evaluate(test_data, load_best_model=False)
        if args.device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    out = {
        "evaluate_s": times,
        "prepare_s": prepare_s,
        "metrics": {k: float(v) for k, v in result.items()},
        "num_items_with_padding": int(dataset.item_num),
        "num_users_with_padding": int(dataset.user_num),
        "users_per_batch": args.users_per_batch,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "patched": "Collector.get_data_struct (.cpu() on tensors only)",
        "left_out": "TailPercentage (O(users*K*tail) Python loop)",
    }
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    main()
