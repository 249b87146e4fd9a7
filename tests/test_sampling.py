"""Negative samplers: never a training positive, and the distribution each one promises."""

from __future__ import annotations

import pytest
import torch

from gnnrec.data.split import temporal_split
from gnnrec.errors import ConfigError
from gnnrec.losses import BPRLoss, DirectAULoss
from gnnrec.sampling import (
    CrossCategorySampler,
    HardNegativeSampler,
    InCategorySampler,
    PopularitySampler,
    TrainingPairs,
    UniformSampler,
)
from gnnrec.train.loop import check_loss_and_sampler
from tests.conftest import make_dataset


def pairs_of(dataset) -> TrainingPairs:
    return TrainingPairs.from_split(temporal_split(dataset))


def positives(pairs: TrainingPairs) -> set[tuple[int, int]]:
    return set(zip(pairs.users.tolist(), pairs.items.tolist(), strict=True))


def categories(dataset) -> list[set[int]]:
    m = dataset.item_categories.tocsr()
    return [set(m.indices[m.indptr[i] : m.indptr[i + 1]].tolist()) for i in range(m.shape[0])]


def draw(sampler, pairs, repeats=50, seed=0):
    gen = torch.Generator().manual_seed(seed)
    users, pos = pairs.users.repeat(repeats), pairs.items.repeat(repeats)
    return users, pos, sampler.sample(users, pos, gen)


@pytest.mark.parametrize("cls", [UniformSampler, PopularitySampler, CrossCategorySampler])
def test_samplers_never_return_a_training_positive(cls, tiny_dataset):
    pairs = pairs_of(tiny_dataset)
    users, _, neg = draw(cls(pairs, num_negatives=3), pairs)
    assert neg.shape == (len(users), 3)
    seen = positives(pairs)
    assert not any(
        (u, j) in seen for u, row in zip(users.tolist(), neg.tolist(), strict=True) for j in row
    )


def spread_dataset():
    """3 users with 2 items each among 12 items in 3 categories of 4 (multi-label item 11)."""
    triples = [(0, 0, 1.0), (0, 4, 2.0), (1, 5, 1.0), (1, 8, 2.0), (2, 9, 1.0), (2, 11, 2.0)]
    labels = [[0]] * 4 + [[1]] * 4 + [[2]] * 3 + [[0, 2]]
    return make_dataset(triples, 3, 12, labels, 3)


def test_in_category_negatives_share_the_positive_category():
    ds = spread_dataset()
    pairs = TrainingPairs.from_split(temporal_split(ds, ratios=(1.0, 0.0, 0.0)))
    sampler = InCategorySampler(pairs, num_negatives=2)
    users, pos, neg = draw(sampler, pairs, repeats=200)
    cats, seen = categories(ds), positives(pairs)
    assert sampler.fallbacks == 0
    for u, i, row in zip(users.tolist(), pos.tolist(), neg.tolist(), strict=True):
        for j in row:
            assert (u, j) not in seen and cats[i] & cats[j]
    # item 11 (c0 and c2) picks either category: negatives from both appear
    from_11 = set(neg[pos == 11].flatten().tolist())
    assert from_11 & {1, 2, 3} and from_11 & {10}
    # within a category the draw is uniform over the user's unseen members: user 0,
    # positive 0 (c0) -> items 1, 2, 3, 11 each with probability 1/4
    mask = pos == 0
    freq = torch.bincount(neg[mask].flatten(), minlength=12)[[1, 2, 3, 11]].double()
    assert torch.allclose(freq / freq.sum(), torch.full((4,), 0.25, dtype=torch.float64), atol=0.06)


def test_in_category_on_a_crowded_dataset_counts_its_fallbacks(tiny_dataset):
    pairs = pairs_of(tiny_dataset)
    sampler = InCategorySampler(pairs)
    users, pos, neg = draw(sampler, pairs)
    cats, seen = categories(tiny_dataset), positives(pairs)
    assert not any((u, j) in seen for u, j in zip(users.tolist(), neg[:, 0].tolist(), strict=True))
    shared = sum(
        bool(cats[i] & cats[j]) for i, j in zip(pos.tolist(), neg[:, 0].tolist(), strict=True)
    )
    # every non-fallback draw shares the category (a uniform fallback may too, by chance)
    assert shared >= len(pos) - sampler.fallbacks
    assert sampler.fallbacks > 0


def test_in_category_falls_back_when_the_category_is_exhausted():
    # user 0 has every item of category 0 (items 0, 1): no same-category negative exists
    ds = make_dataset(
        [(0, 0, 1.0), (0, 1, 2.0), (0, 2, 3.0), (1, 2, 1.0), (1, 3, 2.0), (1, 0, 3.0)],
        2,
        4,
        [[0], [0], [1], [1]],
        2,
    )
    pairs = TrainingPairs.from_split(temporal_split(ds, ratios=(1.0, 0.0, 0.0)))
    sampler = InCategorySampler(pairs)
    neg = sampler.sample(torch.tensor([0, 0]), torch.tensor([0, 1]), torch.Generator())
    assert neg.squeeze(1).tolist() == [3, 3]  # the only item user 0 has not seen
    assert sampler.fallbacks == 2


def test_cross_category_negatives_share_no_category(tiny_dataset):
    pairs = pairs_of(tiny_dataset)
    sampler = CrossCategorySampler(pairs)
    _, pos, neg = draw(sampler, pairs)
    cats = categories(tiny_dataset)
    crossing = sum(
        not (cats[i] & cats[j]) for i, j in zip(pos.tolist(), neg[:, 0].tolist(), strict=True)
    )
    assert crossing >= len(pos) - sampler.fallbacks
    # item 7 carries c0 and c2: a negative for it is never in c0 or c2
    mask = pos == 7
    if mask.any():
        assert all(not (cats[j] & {0, 2}) for j in neg[mask, 0].tolist())


def test_popularity_sampler_follows_popularity_to_the_alpha():
    # item popularities 1, 2, 3, 4 (users 1..4); user 9 has no positives
    items = torch.tensor([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    users = torch.arange(1, 11)
    pairs = TrainingPairs(users, items, num_users=12, num_items=5)
    gen = torch.Generator().manual_seed(0)
    query = torch.full((40_000,), 11)
    neg = PopularitySampler(pairs, alpha=1.0).sample(query, query, gen).squeeze(1)
    freq = torch.bincount(neg, minlength=5).double() / len(neg)
    # P(j) = pop_j / 10; item 4 was never seen in training: probability 0
    assert torch.allclose(
        freq, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.0], dtype=torch.float64), atol=0.01
    )
    flat = PopularitySampler(pairs, alpha=0.0).sample(query, query, gen).squeeze(1)
    freq = torch.bincount(flat, minlength=5).double() / len(flat)
    assert torch.allclose(freq, torch.full((5,), 0.2, dtype=torch.float64), atol=0.01)


def test_hard_sampler_picks_the_best_scored_candidate():
    users = torch.tensor([0, 0])
    items = torch.tensor([0, 1])
    pairs = TrainingPairs(users, items, num_users=1, num_items=6)
    user_emb = torch.ones(1, 1)
    item_emb = torch.arange(6, dtype=torch.float32).view(6, 1)  # item j scores j
    hard = HardNegativeSampler(pairs, num_negatives=2, num_candidates=50)
    gen = torch.Generator().manual_seed(0)
    neg = hard.sample(
        torch.zeros(100, dtype=torch.long),
        torch.zeros(100, dtype=torch.long),
        gen,
        user_emb,
        item_emb,
    )
    assert neg.shape == (100, 2)
    assert (neg == 5).all()  # 50 candidates among {2..5} always include the top item
    # one candidate is uniform sampling with the same random stream
    one = HardNegativeSampler(pairs, num_candidates=1)
    a = one.sample(users, items, torch.Generator().manual_seed(3), user_emb, item_emb)
    b = UniformSampler(pairs).sample(users, items, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_category_samplers_need_categories():
    ds = make_dataset([(0, 0, 1.0), (0, 1, 2.0), (1, 1, 1.0)], 2, 2, [[], []], 1, name="plain")
    pairs = TrainingPairs.from_split(temporal_split(ds, ratios=(1.0, 0.0, 0.0)))
    for cls, name in ((InCategorySampler, "in_category"), (CrossCategorySampler, "cross_category")):
        with pytest.raises(
            ConfigError, match=f"sampler={name} needs item categories, but plain has none"
        ):
            cls(pairs)


def test_loss_and_sampler_must_fit():
    pairs = TrainingPairs(torch.tensor([0]), torch.tensor([0]), 1, 3)
    with pytest.raises(ConfigError, match="loss=bpr needs at least 1 sampled negative"):
        check_loss_and_sampler(BPRLoss(), UniformSampler(pairs, num_negatives=0))
    check_loss_and_sampler(DirectAULoss(), UniformSampler(pairs, num_negatives=0))
    with pytest.raises(ConfigError, match="num_negatives must be >= 0"):
        UniformSampler(pairs, num_negatives=-1)
