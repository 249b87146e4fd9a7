"""Train PyG's ``LightGCN`` the way ``examples/lightgcn.py`` of PyTorch Geometric does.

    .venv/bin/python benchmarks/peer/pyg_lightgcn.py OUT_DIR [--launched-at T] \
        [--time-limit S] [--epochs 300] [--patience 20] [--batch-size 2048] \
        [--lr 0.001] [--lambda-reg 1e-4] [--num-layers 3] [--dim 64] [key=value ...]

Run by ``benchmarks/time_to_accuracy.py``. The ``key=value`` arguments are
gnnrec Hydra overrides of ``conf/train.yaml`` (e.g. ``dataset=amazon-beauty``):
the dataset and split come from gnnrec's loader exactly as ``gnnrec-train``
composes them, so both train on the same interactions.

What follows the PyG example (``examples/lightgcn.py``, pyg-team/pytorch_geometric
at 5c6461b): a homogeneous graph (items numbered after users, both edge
directions) passed as a dense ``edge_index`` (so ``LGConv`` normalises it on
every call); the training labels are the user→item edges, shuffled by a
``DataLoader(range(n))``; each positive gets one uniformly random item as
negative (training positives are *not* excluded, as in the example); every
mini-batch calls ``model(edge_index, edge_label_index)``, i.e. a full
propagation; ``model.recommendation_loss(pos, neg, node_id=edge_label_index.unique())``
(BPR + ``lambda_reg`` times the squared norm of the batch's layer-0
embeddings divided by the batch size); Adam.

What differs from the example, and why:

- 3 layers, not 2 (the benchmark trains LightGCN with 3 layers everywhere);
- batch size 2048, not 8192: the LightGCN paper uses 1024 (2048 on
  Amazon-Book) and gnnrec and RecBole both default to 2048. Each step is one
  full propagation in all three, so the same batch size means the same number
  of propagations per epoch and comparable seconds per epoch. The learning
  rate (0.001) and ``lambda_reg`` (1e-4) are the example's and the paper's;
- validation every epoch with gnnrec's :class:`~gnnrec.evaluation.Evaluator`
  (exact full ranking, training items masked, the runner's ``eval`` settings)
  instead of the example's precision/recall loop, and early stopping on
  validation Recall@20 with ``--patience`` (the example trains 100 epochs
  and reports test every epoch); the best-validation embeddings are kept and
  evaluated on test at the end.

Output in ``OUT_DIR``: ``epochs.jsonl`` (one row per epoch, appended as it
ends: ``epoch``, ``wall`` = ``time.time()``, ``train_s``, ``eval_s``,
``loss``, ``valid/recall@20``, ``valid/ndcg@20``) and ``result.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import torch
import torch_geometric
from hydra import compose, initialize_config_module
from torch_geometric.nn import LightGCN

from gnnrec.cli.common import load_data, make_split
from gnnrec.cli.train import build_evaluator
from gnnrec.evaluation import EmbeddingScorer

MONITOR = "valid/recall@20"


class TimeUp(Exception):
    """The time limit passed during an epoch."""


def append_row(path: Path, row: dict) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("overrides", nargs="*", help="gnnrec Hydra overrides (dataset, split)")
    parser.add_argument(
        "--launched-at", type=float, default=None, help="time.time() at launch (default: now)"
    )
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--lambda-reg", type=float, default=1e-4)
    parser.add_argument("--num-layers", type=int, default=3)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_intermixed_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "epochs.jsonl"
    rows_path.unlink(missing_ok=True)
    if args.launched_at is None:
        args.launched_at = time.time()
    deadline = math.inf if args.time_limit is None else args.launched_at + args.time_limit

    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(args.overrides))
    seed = int(cfg.seed)
    torch.manual_seed(seed)
    dataset = load_data(cfg)
    split = make_split(cfg, dataset)
    num_users, num_items = dataset.num_users, dataset.num_items
    users = torch.from_numpy(dataset.users[split.train]).long()
    items = torch.from_numpy(dataset.items[split.train]).long() + num_users
    # the example's data.edge_index: both directions of every training edge
    edge_index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])
    train_edge_label_index = torch.stack([users, items])
    loader = torch.utils.data.DataLoader(
        range(train_edge_label_index.size(1)),
        shuffle=True,
        batch_size=args.batch_size,
        generator=torch.Generator().manual_seed(seed),
    )
    model = LightGCN(
        num_nodes=num_users + num_items, embedding_dim=args.dim, num_layers=args.num_layers
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    evaluator = build_evaluator(cfg, split, torch.device("cpu"))

    def scorer() -> EmbeddingScorer:
        with torch.no_grad():
            emb = model.get_embedding(edge_index)
        return EmbeddingScorer(emb[:num_users].clone(), emb[num_users:].clone())

    train_start = time.time()
    best, best_epoch, best_scorer, bad, epochs_run = -math.inf, 0, None, 0, 0
    stopped = "max_epochs"
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        total_loss = total_examples = 0.0
        try:
            for index in loader:
                if time.time() > deadline:
                    raise TimeUp
                pos_edge_label_index = train_edge_label_index[:, index]
                neg_edge_label_index = torch.stack(
                    [
                        pos_edge_label_index[0],
                        torch.randint(num_users, num_users + num_items, (index.numel(),)),
                    ]
                )
                edge_label_index = torch.cat([pos_edge_label_index, neg_edge_label_index], dim=1)
                optimizer.zero_grad()
                pos_rank, neg_rank = model(edge_index, edge_label_index).chunk(2)
                loss = model.recommendation_loss(
                    pos_rank,
                    neg_rank,
                    node_id=edge_label_index.unique(),
                    lambda_reg=args.lambda_reg,
                )
                loss.backward()
                optimizer.step()
                total_loss += float(loss.detach()) * pos_rank.numel()
                total_examples += pos_rank.numel()
        except TimeUp:
            stopped = "time_limit"
            break
        t1 = time.time()
        model.eval()
        current = scorer()
        metrics = evaluator.evaluate(current, "valid").metrics
        t2 = time.time()
        if t2 > deadline:  # this validation ended after the limit: it does not count
            stopped = "time_limit"
            break
        epochs_run = epoch
        value = metrics[MONITOR]
        append_row(
            rows_path,
            {
                "epoch": epoch,
                "wall": t2,
                "train_s": t1 - t0,
                "eval_s": t2 - t1,
                "loss": total_loss / total_examples,
                MONITOR: value,
                "valid/ndcg@20": metrics.get("valid/ndcg@20"),
            },
        )
        if value > best:
            best, best_epoch, best_scorer, bad = value, epoch, current, 0
        else:
            bad += 1
            if bad >= args.patience:
                stopped = "early_stopping"
                break

    test = evaluator.evaluate(best_scorer, "test").metrics if best_scorer is not None else {}
    result = {
        "tool": "pyg",
        "launched_at": args.launched_at,
        "train_start_wall": train_start,
        "epochs_run": epochs_run,
        "stopped": stopped,
        "best_epoch": best_epoch,
        "best_valid_recall@20": best if best_scorer is not None else None,
        "test/recall@20": test.get("test/recall@20"),
        "test/ndcg@20": test.get("test/ndcg@20"),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "split": {**split.counts(), "users": num_users, "items": num_items},
        "settings": {
            "num_layers": args.num_layers,
            "embedding_dim": args.dim,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "lambda_reg": args.lambda_reg,
            "negatives": "1 uniform over all items per positive (training positives not excluded)",
            "patience": args.patience,
            "max_epochs": args.epochs,
            "seed": seed,
            "eval_ks": list(cfg.eval.ks),
        },
        "versions": {
            "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__,
            "python": sys.version.split()[0],
        },
        "threads": torch.get_num_threads(),
    }
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
