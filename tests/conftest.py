"""Shared fixtures: tiny hand-made datasets, paths to bundled and shared data."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnrec.data.dataset import InteractionDataset

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` next to the checkout, or ``$GNNREC_SHARED_DATA``."""
    env = os.environ.get("GNNREC_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or write the user's ~/.cache/gnnrec (subprocesses inherit it)."""
    if "GNNREC_CACHE" not in os.environ:
        os.environ["GNNREC_CACHE"] = str(tmp_path_factory.mktemp("gnnrec-cache"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


def make_dataset(
    interactions: list[tuple[int, int, float]],
    num_users: int,
    num_items: int,
    item_labels: list[list[int]],
    num_categories: int,
    name: str = "tiny",
) -> InteractionDataset:
    """A dataset from (user, item, timestamp) triples, sorted as the loader sorts."""
    arr = np.array(interactions, dtype=np.float64)
    order = np.lexsort((np.arange(len(arr)), arr[:, 2], arr[:, 0]))
    arr = arr[order]
    rows = [i for i, labels in enumerate(item_labels) for _ in labels]
    cols = [c for labels in item_labels for c in labels]
    cats = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(num_items, num_categories)
    )
    return InteractionDataset(
        name=name,
        user_ids=np.array([f"u{u}" for u in range(num_users)]),
        item_ids=np.array([f"i{i}" for i in range(num_items)]),
        category_names=np.array([f"c{c}" for c in range(num_categories)]),
        users=arr[:, 0].astype(np.int64),
        items=arr[:, 1].astype(np.int64),
        timestamps=arr[:, 2],
        weights=np.ones(len(arr), dtype=np.float32),
        item_categories=cats,
    )


@pytest.fixture
def tiny_dataset() -> InteractionDataset:
    """4 users, 8 items, 3 categories; every user has 10 time-stamped interactions
    except user 3 (5). Items 0-2 carry c0, 3-5 c1, 6 c2, 7 both c0 and c2."""
    rng = np.random.default_rng(0)
    triples = []
    for u, n in enumerate([8, 8, 8, 5]):
        items = rng.permutation(8)[:n]
        triples += [(u, int(i), float(100 * u + t)) for t, i in enumerate(items)]
    labels = [[0], [0], [0], [1], [1], [1], [2], [0, 2]]
    return make_dataset(triples, 4, 8, labels, 3)


def with_model_data(dataset: InteractionDataset, model: str) -> InteractionDataset:
    """``dataset`` plus what ``model`` needs beyond interactions and categories:
    item text for ``textgcn`` (``"item <i>"``), a two-domain ``domain`` column
    for ``crossdomain`` (the first half of the items in domain ``A``)."""
    if model == "textgcn":
        text = np.array([f"item {i}" for i in range(dataset.num_items)])
        return dataclasses.replace(dataset, item_text=text)
    if model == "crossdomain":
        domain = np.where(dataset.items < dataset.num_items // 2, "A", "B")
        return dataclasses.replace(dataset, extras={**dataset.extras, "domain": domain})
    return dataset


def write_small_ml100k(folder: Path) -> None:
    """30 users x 24 items (10 each) in ml-100k's format; 4 genres by item id modulo 4."""
    g = torch.Generator().manual_seed(0)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(30):
        items = torch.randperm(24, generator=g)[:10].tolist()
        lines += [f"{u}\t{i}\t5\t{1000 * u + t}" for t, i in enumerate(items)]
    (folder / "ml-100k.inter").write_text("\n".join(lines) + "\n")
    genres = ["Drama", "Comedy", "Action", "Horror"]
    rows = ["item_id:token\tmovie_title:token_seq\tclass:token_seq"]
    rows += [f"{i}\tMovie {i}\t{genres[i % 4]}" for i in range(24)]
    (folder / "ml-100k.item").write_text("\n".join(rows) + "\n")


def _cli_here(monkeypatch, capsys, name: str, main):
    """A console script's entry point ``main`` in this process: returns a
    ``call(*args, cwd)`` giving ``(exit status, stdout, stderr)``."""

    def call(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
        monkeypatch.setattr(sys, "argv", [name, *args])
        capsys.readouterr()
        # Hydra points the root logger at this test's captured stdout; put the old
        # handlers back, or a later test logs into a closed stream
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            main()
            status = 0
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, out.out, out.err)

    return call


@pytest.fixture
def train_here(monkeypatch, capsys, hydra_restore_singletons):
    """``gnnrec-train`` through its entry point in this process: the console
    script's code, without the 4 s of interpreter and import start-up per call
    (the one-line error cases are many). Returns ``(exit status, stdout,
    stderr)``. Kills, signals and locks keep real processes (``test_faults``).
    """
    from gnnrec.cli.train import main

    return _cli_here(monkeypatch, capsys, "gnnrec-train", main)


@pytest.fixture
def tune_here(monkeypatch, capsys, hydra_restore_singletons):
    """``gnnrec-tune`` through its entry point in this process (as ``train_here``)."""
    from gnnrec.cli.tune import main

    return _cli_here(monkeypatch, capsys, "gnnrec-tune", main)
