"""Sparse propagation, forward + backward: ``layers.propagate.spmm`` vs ``torch.sparse.mm``.

    python benchmarks/propagation_backward.py            # ml-100k + a Gowalla-sized graph
    python benchmarks/propagation_backward.py --repeats 10

Times ``K = 3`` LightGCN layers (``X -> A X -> A^2 X -> A^3 X`` over the
symmetric-normalised training adjacency, 64-d, float32) and the backward of
their sum, both ways in the same process on the same matrices:

(a) ``torch``: ``torch.sparse.mm(A, X)`` with a CSR ``A``, autograd's own
    backward (it differentiates through a transposed copy of ``A`` made on
    every backward);
(b) ``spmm``: ``gnnrec.models.layers.propagate.spmm``, whose backward is
    ``A^T @ grad`` with ``A^T = A`` given once (the matrix is symmetric);
(c) ``torch_coo``: (a) with a COO ``A``;
(d) ``pyg_edge_index``: PyG's ``LGConv`` over ``edge_index`` + weights
    (message passing: gather, scale, scatter-add);
(e) ``pyg_sparse``: PyG's ``LGConv`` given the sparse CSR ``A``.

Graphs: the bundled ml-100k train split (default temporal split, 2,389 nodes)
and the Gowalla training graph from ``../shared/data/gowalla`` (70,839
nodes, 1.6M directed edges) when present, else a random bipartite graph of
the same size. The minimum over ``--repeats`` runs is reported, with the
ratio (a)/(b) and every variant over (b); results go to
``benchmarks/results/propagation_backward.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gnnrec.graph.build import build_graph, normalized_adjacency, to_torch_csr
from gnnrec.models.layers.propagate import propagate_layers
from gnnrec.train.allocator import tune_cpu_allocator

ROOT = Path(__file__).resolve().parents[1]


def ml100k_adjacency() -> torch.Tensor:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from gnnrec.data import load_dataset
    from gnnrec.data.split import temporal_split

    with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
        cfg = compose(config_name="train")
    spec = OmegaConf.to_container(cfg.dataset, resolve=True)
    spec.pop("_target_")
    return build_graph(temporal_split(load_dataset(**spec))).adjacency


def gowalla_adjacency() -> tuple[torch.Tensor, str]:
    shared = Path(os.environ.get("GNNREC_SHARED_DATA", ROOT.parent / "shared" / "data"))
    train = shared / "gowalla" / "train.txt"
    num_users, num_items = 29858, 40981
    if train.is_file():
        users, items = [], []
        for line in train.read_text().splitlines():
            ids = [int(t) for t in line.split()]
            users += [ids[0]] * (len(ids) - 1)
            items += ids[1:]
        u, i, source = np.array(users), np.array(items), "gowalla train.txt"
    else:
        rng = np.random.default_rng(0)
        u = rng.integers(0, num_users, 810_128)
        i = rng.integers(0, num_items, 810_128)
        source = "random bipartite graph of Gowalla's size"
    i = i + num_users
    both = np.vstack([np.concatenate([u, i]), np.concatenate([i, u])])
    return to_torch_csr(normalized_adjacency(both, num_users + num_items)), source


def variants(adjacency: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """One LightGCN layer ``A @ X`` per way of computing it (all differentiable in X)."""
    from torch_geometric.nn import LGConv

    coo = adjacency.to_sparse_coo().coalesce()
    edge_index, edge_weight = coo.indices(), coo.values()
    conv = LGConv(normalize=False)  # A is normalised already; LGConv only propagates
    return {
        # gnnrec: CSR forward, backward A^T @ grad with A^T = A given once
        "spmm": lambda x: propagate_layers(adjacency, x, 1)[1],
        # torch's own autograd of a CSR product (a transposed copy every backward)
        "torch_csr": lambda x: torch.sparse.mm(adjacency, x),
        "torch_coo": lambda x: torch.sparse.mm(coo, x),
        # PyG message passing over edge_index: gather x_j * w, scatter-add (what
        # LightGCN in PyG runs when given an edge_index)
        "pyg_edge_index": lambda x: conv(x, edge_index, edge_weight),
        # PyG's LGConv given the sparse CSR adjacency (its spmm path)
        "pyg_sparse": lambda x: conv(x, adjacency),
    }


def time_layers(layer: Callable[[torch.Tensor], torch.Tensor], n: int, repeats: int) -> float:
    """Best of ``repeats``: three layers forward and the backward of their sum."""
    x0 = torch.randn(n, 64, requires_grad=True)
    best = float("inf")
    for i in range(repeats + 1):  # the first round warms up and is not counted
        start = time.perf_counter()
        layers = [x0]
        for _ in range(3):
            layers.append(layer(layers[-1]))
        torch.stack(layers).sum().backward()
        if i:
            best = min(best, time.perf_counter() - start)
        x0.grad = None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # as gnnrec-train does on CPU: otherwise whichever variant runs first pays the
    # allocator's fresh-page faults for every [N, d] block (order-dependent timings)
    tune_cpu_allocator()
    torch.manual_seed(0)
    graphs = {"ml-100k (bundled)": ml100k_adjacency()}
    adjacency, source = gowalla_adjacency()
    graphs[f"Gowalla-sized ({source})"] = adjacency
    rows = []
    for name, a in graphs.items():
        times = {
            key: time_layers(layer, a.shape[0], args.repeats) for key, layer in variants(a).items()
        }
        rows.append(
            {
                "graph": name,
                "nodes": a.shape[0],
                "nonzeros": int(a.values().numel()),
                **{f"{key}_s": t for key, t in times.items()},
                "ratio": times["torch_csr"] / times["spmm"],
                **{f"{key}_over_spmm": t / times["spmm"] for key, t in times.items()},
            }
        )
        print(f"{name}: " + ", ".join(f"{k} {t:.3f} s" for k, t in times.items()))
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "rows": rows,
    }
    path = ROOT / "benchmarks" / "results" / "propagation_backward.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
