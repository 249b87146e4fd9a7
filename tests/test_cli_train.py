"""``gnnrec-train`` through its console script, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

BIN = Path(sys.executable).parent


def gnnrec_train(
    *args: str, cwd: Path, check: bool = True, threads: int | None = None
) -> subprocess.CompletedProcess:
    """``gnnrec-train`` in its own process; ``threads`` sets ``OMP_NUM_THREADS``."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "WANDB_MODE": "offline"}
    env.pop("WANDB_API_KEY", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(
        [str(BIN / "gnnrec-train"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"gnnrec-train failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob(".hydra") if p.is_dir())


def read_tsv(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines()
    return [line.split("\t") for line in lines[1:]]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """One short run of the default experiment with every artefact switched on."""
    cwd = tmp_path_factory.mktemp("run")
    proc = gnnrec_train(
        "train.epochs=2",
        "eval.save_topk=true",
        "hydra.run.dir=out",
        "train.progress=false",
        cwd=cwd,
    )
    assert "recall@20" in proc.stdout and "cc_recall@20" in proc.stdout
    return cwd / "out"


def test_run_writes_every_artefact(default_run):
    out = default_run
    for name in ("config.yaml", "metrics.jsonl", "results.json", "topk.tsv"):
        assert (out / name).is_file(), name
    for part in ("train", "valid", "test"):
        assert (out / "split" / f"{part}.tsv").is_file()
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in epochs] == [1, 2]
    assert all("train/loss" in row and "valid/recall@20" in row for row in epochs)
    results = json.loads((out / "results.json").read_text())
    for key in (
        "test/recall@20",
        "test/ndcg@20",
        "test/cc_recall@20",
        "test/cat_coverage@20",
        "test/ild@20",
        "valid/recall@10",
        "best_epoch",
        "wall_time_s",
        "device",
    ):
        assert key in results, key
    assert results["model"] == "lightgcn" and results["data/interactions"] == 55375
    config = (out / "config.yaml").read_text()
    assert "${" not in config  # resolved
    assert "epochs: 2" in config
    # offline W&B run, written inside the run directory
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))


def test_results_recompute_from_topk_and_split_files(default_run):
    """test/recall@20 and test/ndcg@20 from topk.tsv + split/test.tsv alone."""
    out = default_run
    truth: dict[str, set[str]] = defaultdict(set)
    for user, item in read_tsv(out / "split" / "test.tsv"):
        truth[user].add(item)
    lists: dict[str, list[str]] = defaultdict(list)
    for user, rank, item in read_tsv(out / "topk.tsv"):
        assert int(rank) == len(lists[user]) + 1
        lists[user].append(item)
    train_pairs = {tuple(r) for r in read_tsv(out / "split" / "train.tsv")}
    recalls, ndcgs = [], []
    for user, items in truth.items():
        top = lists[user][:20]
        assert not any((user, i) in train_pairs for i in top)  # seen items are masked
        gains = [1.0 / np.log2(r + 2) for r, i in enumerate(top) if i in items]
        ideal = sum(1.0 / np.log2(r + 2) for r in range(min(20, len(items))))
        recalls.append(len([i for i in top if i in items]) / len(items))
        ndcgs.append(sum(gains) / ideal)
    results = json.loads((out / "results.json").read_text())
    assert results["test/users"] == len(truth)
    assert results["test/recall@20"] == pytest.approx(np.mean(recalls), abs=1e-6)
    assert results["test/ndcg@20"] == pytest.approx(np.mean(ndcgs), abs=1e-6)


def test_same_seed_same_metrics(default_run, tmp_path):
    gnnrec_train("train.epochs=2", "hydra.run.dir=again", "logger=none", cwd=tmp_path)
    first = json.loads((default_run / "results.json").read_text())
    second = json.loads((tmp_path / "again" / "results.json").read_text())
    metric_keys = [k for k in first if k.startswith(("valid/", "test/"))]
    assert {k: first[k] for k in metric_keys} == {k: second[k] for k in metric_keys}
    assert (default_run / "split" / "test.tsv").read_text() == (
        (default_run / "split" / "test.tsv").read_text()
    )


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    """Job 0 has a bad seed; job 1 still runs, the end-of-sweep report names the
    failure and the command exits with 2."""
    proc = gnnrec_train(
        "-m",
        "seed=abc,1",
        "model=mostpop",
        "logger=none",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    sweep = tmp_path / "sweep"
    assert (sweep / "1-mostpop" / "results.json").is_file()
    assert not (sweep / "0-mostpop" / "results.json").exists()
    assert "seed='abc'" in (sweep / "0-mostpop" / "error.txt").read_text()
    assert "1 job(s) finished, 1 failed" in proc.stdout
    assert "failed 0-mostpop: seed='abc'" in proc.stdout


def test_multirun_sweeps_models_one_directory_each(tmp_path):
    proc = gnnrec_train(
        "-m",
        "model=mf,mostpop,gat",
        "model.num_layers=1",
        "train.epochs=1",
        "logger=none",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        check=False,
    )
    # model.num_layers does not exist for mf: Hydra must say so instead of ignoring it
    assert proc.returncode != 0
    proc = gnnrec_train(
        "-m",
        "model=mf,mostpop",
        "train.epochs=1",
        "logger=none",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    dirs = run_dirs(tmp_path / "sweep")
    assert [d.name for d in dirs] == ["0-mf", "1-mostpop"]
    models = [json.loads((d / "results.json").read_text())["model"] for d in dirs]
    assert models == ["mf", "mostpop"]


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_gat_with_overrides(tmp_path):
    gnnrec_train(
        "model=gat",
        "model.num_layers=2",
        "train.lr=0.005",
        "train.epochs=1",
        "logger=none",
        "hydra.run.dir=gat",
        cwd=tmp_path,
    )
    results = json.loads((tmp_path / "gat" / "results.json").read_text())
    assert results["model"] == "gat"
    assert "num_layers: 2" in (tmp_path / "gat" / "config.yaml").read_text()


def test_help_and_cfg_behave_like_hydra(tmp_path):
    proc = gnnrec_train("--help", cwd=tmp_path)
    conf = Path(__file__).resolve().parents[1] / "conf"
    for group in ("model", "loss", "sampler"):
        names = ", ".join(sorted(p.stem for p in (conf / group).glob("*.yaml")))
        assert f"{group}: {names}" in proc.stdout
    proc = gnnrec_train("--cfg", "job", "model=mf", cwd=tmp_path)
    assert "_target_: gnnrec.models.MF.from_graph" in proc.stdout
    assert not list(tmp_path.iterdir())  # neither writes a run directory


def test_unknown_model_lists_the_available_ones(tmp_path):
    proc = gnnrec_train("model=nosuch", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "Could not find 'model/nosuch'" in proc.stderr
    for name in ("gat", "lightgcn", "mf", "mostpop"):
        assert f"\t{name}\n" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def _bad_dataset_run(run, tmp_path: Path, inter: str | None) -> subprocess.CompletedProcess:
    data = tmp_path / "data"
    data.mkdir()
    if inter is not None:
        (data / "ml-100k.inter").write_text(inter)
    (data / "ml-100k.item").write_text("item_id:token\tclass:token_seq\n1\tDrama\n")
    return run(f"dataset.root={data}", "logger=none", "hydra.run.dir=out", cwd=tmp_path)


HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


@pytest.mark.parametrize(
    ("inter", "message"),
    [
        (None, "ml-100k.inter: file not found; looked for 'ml-100k.inter' in"),
        ("", "ml-100k.inter: the file is empty"),
        (
            "user_id:token\titem_id:token\ttimestamp:float\n1\t1\t5\n",
            "ml-100k.inter, line 1: missing column 'rating'",
        ),
        (
            HEADER + "1\t1\t5\t10\n2\t1\tfive\t11\n",
            "ml-100k.inter, line 3, column 'rating': expected a numeric rating, found 'five'",
        ),
    ],
    ids=["missing-file", "empty", "missing-column", "bad-rating"],
)
def test_bad_input_is_a_located_error_without_results(train_here, tmp_path, inter, message):
    proc = _bad_dataset_run(train_here, tmp_path, inter)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    out = tmp_path / "out"
    assert not (out / "results.json").exists()
    assert message in (out / "error.txt").read_text()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.ks=[0]", "gnnrec-train: error: eval: ks must be positive cut-offs, got [0]"),
        ("+model.graph.nosuch=1", "gnnrec-train: error: model.graph: "),
        (
            "train.lr=fast",
            "gnnrec-train: error: train.lr='fast': Value 'fast' of type 'str' could not be "
            "converted to Float",
        ),
        (
            "train.batch_size=1.5",
            "gnnrec-train: error: train.batch_size=1.5: Value '1.5' of type 'float' could not "
            "be converted to Integer",
        ),
        (
            "seed=abc",
            "gnnrec-train: error: seed='abc': Value 'abc' of type 'str' could not be converted "
            "to Integer",
        ),
        ("+eval.save_topks=true", "gnnrec-train: error: unknown key eval.save_topks; expected"),
        (
            "dataset.min_rating=high",
            "gnnrec-train: error: dataset.min_rating must be a number or null, got 'high'",
        ),
        ("model.embedding_dim=1.5", "embedding_dim must be an integer >= 1, got 1.5"),
        ("sampler.num_negatives=x", "gnnrec-train: error: sampler.num_negatives must be an"),
        ("+train.lerning_rate=0.1", "gnnrec-train: error: unknown key train.lerning_rate;"),
        ("seed=-1", "gnnrec-train: error: seed=-1: expected an integer from 0 to 4294967295"),
        ("seed=4294967296", "gnnrec-train: error: seed=4294967296: expected an integer from 0"),
    ],
)
def test_bad_options_are_config_errors(train_here, tmp_path, override, message):
    proc = train_here(override, "logger=none", "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gnnrec-train: error")]
    assert len(errors) == 1
    if "unknown key" in message or "could not be converted" in message or "seed=" in message:
        assert not (tmp_path / "out" / "config.yaml").exists()  # stopped before any work


def test_missing_dataset_folder(train_here, tmp_path):
    proc = train_here(
        "dataset.root=/no/such/folder", "logger=none", "hydra.run.dir=out", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert (
        "/no/such/folder: dataset folder not found; looked there for ml-100k.inter" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_monitor_users_and_select_on(tmp_path):
    """A sampled monitor only drives training; results cover every user. select_on=test
    monitors the test part (the papers' protocol) and says it is optimistic."""
    gnnrec_train(
        "train.epochs=2", "eval.monitor_users=100", "logger=none", "hydra.run.dir=a", cwd=tmp_path
    )
    rows = [json.loads(line) for line in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    assert [r["valid/users"] for r in rows] == [100.0, 100.0]
    assert 0 < rows[0]["train/elapsed_s"] < rows[1]["train/elapsed_s"]
    results = json.loads((tmp_path / "a/results.json").read_text())
    assert results["monitor_users"] == 100 and results["valid/users"] > 100
    assert results["selected_on"] == "valid" and results["setup_time_s"] > 0

    proc = gnnrec_train(
        "train.epochs=2", "train.select_on=test", "logger=none", "hydra.run.dir=b", cwd=tmp_path
    )
    assert "optimistic" in proc.stdout + proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "b/metrics.jsonl").read_text().splitlines()]
    assert all("test/recall@20" in r and "valid/recall@20" not in r for r in rows)
    results = json.loads((tmp_path / "b/results.json").read_text())
    assert results["selected_on"] == "test"
    best = max(rows, key=lambda r: r["test/recall@20"])
    assert results["best_epoch"] == best["epoch"]
    assert results["test/recall@20"] == pytest.approx(best["test/recall@20"], abs=1e-9)

    for override, message in (
        ("eval.monitor_users=0", "eval.monitor_users must be a positive integer"),
        ("train.select_on=train", "train.select_on must be 'valid' or 'test'"),
    ):
        proc = gnnrec_train("train.epochs=1", override, "logger=none", cwd=tmp_path, check=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]


def test_cross_domain_split_without_a_target_names_the_key_and_the_domains(train_here, tmp_path):
    proc = train_here(
        "dataset=ml-100k-domains", "split=cross_domain", "logger=none", "hydra.run.dir=out",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("gnnrec-train: error")]
    assert "split=cross_domain needs split.target" in line
    assert "the domains of ml-100k-domains are: " in line
