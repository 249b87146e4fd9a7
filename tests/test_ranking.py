"""The ranking engine: tie rule, masking, padding, sparse row helpers, chunk sizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnrec.evaluation.ranking import (
    bytes_per_user,
    chunk_size,
    csr_rows,
    dense_rows,
    mask_items,
    membership,
    topk_with_ties,
)

INF = float("inf")


def reference_topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Sort each row by (-score, id); -inf entries become -1 padding."""
    out = np.full((scores.shape[0], k), -1)
    for r, row in enumerate(scores):
        order = [i for i in np.lexsort((np.arange(len(row)), -row)) if row[i] > -INF][:k]
        out[r, : len(order)] = order
    return out


def test_ties_inside_the_list_ordered_by_id():
    # scores 3, 5, 5: the two 5s by id (1, 2), then item 0
    assert topk_with_ties(torch.tensor([[3.0, 5.0, 5.0]]), 3).tolist() == [[1, 2, 0]]


def test_ties_at_the_boundary_take_smaller_ids():
    # items 1, 2, 3 tie at 3 for two slots -> 1, 2 (not whatever topk returned)
    scores = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    assert topk_with_ties(scores, 2).tolist() == [[1, 2], [4, 0]]


def test_masked_items_become_padding():
    scores = torch.tensor([[-INF, 2.0, -INF, 1.0], [-INF, -INF, -INF, -INF]])
    # row 0 has two rankable items; row 1 none (all items seen)
    assert topk_with_ties(scores, 3).tolist() == [[1, 3, -1], [-1, -1, -1]]


def test_k_larger_than_catalogue_is_clipped():
    assert topk_with_ties(torch.tensor([[0.5, 0.7]]), 5).tolist() == [[1, 0]]


def test_nan_scores_raise():
    with pytest.raises(FloatingPointError, match="NaN"):
        topk_with_ties(torch.tensor([[1.0, float("nan"), 0.0]]), 2)


def test_tie_path_in_several_blocks_matches_one_block():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 3, (9, 30), generator=g).float()  # many boundary ties
    expected = reference_topk(scores.numpy(), 7)
    for block in (1, 2, None):
        got = topk_with_ties(scores, 7, tie_block_rows=block).numpy()
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda rows: st.integers(1, 12).flatmap(
            lambda cols: st.tuples(
                st.lists(
                    st.lists(
                        st.sampled_from([-INF, 0.0, 1.0, 2.0, 0.5]), min_size=cols, max_size=cols
                    ),
                    min_size=rows,
                    max_size=rows,
                ),
                st.integers(1, cols + 2),
            )
        )
    )
)
def test_topk_matches_a_lexsort_reference(case):
    rows, k = case
    scores = np.array(rows, dtype=np.float32)
    got = topk_with_ties(torch.from_numpy(scores), k).numpy()
    np.testing.assert_array_equal(got, reference_topk(scores, min(k, scores.shape[1])))


# CSR with rows {1, 3}, {}, {0, 2, 3} over 4 columns
CROW = torch.tensor([0, 2, 2, 5])
COL = torch.tensor([1, 3, 0, 2, 3])


def test_csr_rows_and_mask_items():
    local, cols = csr_rows(CROW, COL, torch.tensor([2, 0]))
    # chunk row 0 is CSR row 2 -> columns 0, 2, 3; chunk row 1 is CSR row 0 -> 1, 3
    assert list(zip(local.tolist(), cols.tolist(), strict=True)) == [
        (0, 0),
        (0, 2),
        (0, 3),
        (1, 1),
        (1, 3),
    ]
    scores = torch.zeros(2, 4)
    mask_items(scores, CROW, COL, torch.tensor([0, 1]))
    assert scores.tolist() == [[0, -INF, 0, -INF], [0, 0, 0, 0]]


def test_dense_rows():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    block = dense_rows(CROW, COL, values, torch.tensor([2, 1]), 4, torch.float64)
    assert block.tolist() == [[3, 0, 4, 5], [0, 0, 0, 0]]
    assert dense_rows(CROW, COL, None, torch.tensor([0]), 4).tolist() == [[0, 1, 0, 1]]


def test_membership():
    keys = CROW.new_tensor([0 * 4 + 1, 0 * 4 + 3, 2 * 4 + 0, 2 * 4 + 2, 2 * 4 + 3])
    items = torch.tensor([[3, 0, -1], [2, 1, 0]])
    # user 0 owns {1, 3}; user 2 owns {0, 2, 3}; -1 is padding
    got = membership(keys, torch.tensor([0, 2]), items, 4)
    assert got.tolist() == [[True, False, False], [True, False, True]]
    assert not membership(keys[:0], torch.tensor([0, 2]), items, 4).any()


def test_chunk_size_from_budget():
    assert chunk_size(1.0, 1024) == 1024  # 1 MiB / 1 KiB per user
    assert chunk_size(0.0001, 10**9) == 1  # never below one user
    # the score row dominates for large catalogues: 12 bytes per item
    small = bytes_per_user(1000, 20, 10)
    large = bytes_per_user(2000, 20, 10)
    assert large - small == 12 * 1000
    # embedding ILD adds three float64 [K, d] blocks
    assert bytes_per_user(1000, 20, 10, emb_dim=8) - small == 24 * 20 * 8


# ------------------------------------------------------------------ block-filtered top-k
def test_block_filter_matches_the_reference_on_large_rows():
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(30, 64 * 40 + 37, generator=g)  # 40 full blocks and a partial one
    scores[0, -1] = 100.0  # the best item sits in the partial last block
    scores[1, :] = -INF  # a user who has seen everything but a few items
    scores[1, [5, 700, 2000]] = torch.tensor([0.1, 0.3, 0.2])
    scores[2, ::64] = 50.0  # every block has the same maximum: the full top-k fallback
    for k in (1, 5, 20):
        got = topk_with_ties(scores, k).numpy()
        np.testing.assert_array_equal(got, reference_topk(scores.numpy(), k))
    assert topk_with_ties(scores, 3)[0, 0] == scores.shape[1] - 1
    assert topk_with_ties(scores, 5)[1].tolist() == [700, 2000, 5, -1, -1]


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda rows: st.tuples(
            st.lists(
                st.lists(st.sampled_from([-INF, 0.0, 1.0, 2.0, 3.0]), min_size=29, max_size=29),
                min_size=rows,
                max_size=rows,
            ),
            st.integers(1, 4),
            st.integers(1, 5),
        )
    )
)
def test_block_filter_with_small_blocks_and_many_ties(case):
    from gnnrec.evaluation.ranking import _top_candidates

    rows, n, block = case
    scores = torch.tensor(rows, dtype=torch.float32)
    values, index = _top_candidates(scores, n, block=block)
    expected = torch.topk(scores, n, dim=1).values
    # the n largest values exactly, and each index points at its value
    torch.testing.assert_close(values.sort(dim=1, descending=True).values, expected)
    torch.testing.assert_close(scores.gather(1, index), values)
    assert all(len(set(r)) == n for r in index.tolist())  # no item twice


@pytest.mark.gpu
def test_topk_on_gpu_equals_cpu():
    g = torch.Generator().manual_seed(9)
    scores = torch.randint(0, 50, (64, 5000), generator=g).float()  # ties everywhere
    scores[:8] = torch.randn(8, 5000, generator=g)  # and rows without ties (block path)
    scores[3, :4000] = -INF
    expected = topk_with_ties(scores, 20)
    torch.testing.assert_close(topk_with_ties(scores.cuda(), 20).cpu(), expected)


def test_no_rows_on_a_large_catalogue():
    """A part without users (Gowalla has no validation part) ranks nothing, on the
    block-filter path too (enough items for it: here 64 blocks of 64)."""
    scores = torch.empty(0, 4096)
    assert topk_with_ties(scores, 20).shape == (0, 20)
