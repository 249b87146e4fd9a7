"""Item-based k-nearest-neighbour collaborative filtering (training-free)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from gnnrec.data.sparse import binary_csr
from gnnrec.graph.build import INTERACTS, RecGraph, to_torch_csr
from gnnrec.models.base import Recommender, Scorer, check_int

_SIMILARITY_BLOCK = 512
"""Target items per block when computing similarities (bounds the co-occurrence block)."""


def train_interactions(graph: RecGraph) -> sp.csr_matrix:
    """The binary TRAIN user–item matrix ``R`` ``[num_users, num_items]`` of a graph."""
    edges = graph.hetero[INTERACTS].edge_index.cpu().numpy()
    return binary_csr(edges[0], edges[1], (graph.num_users, graph.num_items), dtype=np.float64)


def item_similarity(matrix: sp.spmatrix, k: int = 100, shrink: float = 0.0) -> sp.csr_matrix:
    r"""Top-``k`` shrunk cosine similarities between the columns of ``matrix``.

    .. math::
        s_{ji} = \frac{\mathbf{r}_j \cdot \mathbf{r}_i}
                      {\lVert \mathbf{r}_j \rVert \lVert \mathbf{r}_i \rVert + \lambda},
        \qquad i \neq j,

    with :math:`\mathbf{r}_i` the column of item :math:`i` and :math:`\lambda`
    the shrinkage. Row :math:`j` of the result keeps the ``k`` largest
    :math:`s_{ji}` (ties: the smaller item id) — the neighbourhood of target
    item :math:`j`; self-similarity and zero similarities are never stored.
    Computed in blocks of target items, so no dense ``[I, I]`` matrix is built.

    Args:
        matrix: ``[num_users, num_items]`` interactions.
        k: neighbours kept per item.
        shrink: :math:`\lambda \ge 0`.

    Returns:
        ``[num_items, num_items]`` CSR (float64), row = target item.
    """
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(csc.multiply(csc).sum(axis=0)).ravel())
    num_items = csc.shape[1]
    rows, cols, vals = [], [], []
    for start in range(0, num_items, _SIMILARITY_BLOCK):
        stop = min(start + _SIMILARITY_BLOCK, num_items)
        block = (csc[:, start:stop].T @ csc).tocoo()
        target = block.row + start
        keep = (block.col != target) & (block.data != 0)
        target, other, dot = target[keep], block.col[keep], block.data[keep]
        # Nonzero dot products imply nonzero norms: the denominator is positive.
        sim = dot / (norms[target] * norms[other] + shrink)
        # Within each target: descending similarity, ties by the smaller item id.
        order = np.lexsort((other, -sim, target))
        target, other, sim = target[order], other[order], sim[order]
        first = np.searchsorted(target, target, side="left")
        rank = np.arange(len(target)) - first
        top = rank < k
        rows.append(target[top])
        cols.append(other[top])
        vals.append(sim[top])
    out = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(num_items, num_items),
    )
    out.sort_indices()
    return out


def user_rows_transposed(crow: Tensor, col: Tensor, users: Tensor, num_items: int) -> Tensor:
    """``[num_items, B]`` dense 0/1 block: column ``b`` is the training row of ``users[b]``.

    ``crow`` / ``col`` are the CSR arrays of the binary train matrix; the block
    is built transposed because ``torch.sparse.mm`` multiplies a CSR matrix by
    a dense one from the left.
    """
    start = crow.index_select(0, users)
    count = crow.index_select(0, users + 1) - start
    local = torch.repeat_interleave(torch.arange(len(users), device=users.device), count)
    first = torch.cumsum(count, 0) - count
    offsets = torch.arange(len(local), device=users.device) + torch.repeat_interleave(
        start - first, count
    )
    out = torch.zeros(num_items, len(users), dtype=torch.float32, device=users.device)
    out[col.index_select(0, offsets), local] = 1.0
    return out


class ChunkScorer:
    """Wraps ``score(users, out)`` as a scorer that writes into the evaluator's
    reused ``[B, num_items]`` buffer (the ``accepts_out`` protocol of
    :mod:`gnnrec.models.scorers`)."""

    accepts_out = True

    def __init__(self, score: Callable[[Tensor, Tensor | None], Tensor]) -> None:
        self._score = score

    def __call__(self, users: Tensor, out: Tensor | None = None) -> Tensor:
        return self._score(users, out)


class ItemKNN(Recommender):
    r"""Item-based k-nearest-neighbour CF on the binary training matrix.

    .. math::
        \hat y_{uj} = \sum_{i \in \mathcal{N}_k(j)} r_{ui}\, s_{ji}, \qquad
        s_{ji} = \frac{\mathbf{r}_j \cdot \mathbf{r}_i}
                      {\lVert \mathbf{r}_j \rVert \lVert \mathbf{r}_i \rVert + \lambda},

    where :math:`\mathbf{r}_i \in \{0, 1\}^{|U|}` is item :math:`i`'s column of
    the TRAIN interaction matrix :math:`R`, :math:`\mathcal{N}_k(j)` the
    ``k`` items most similar to :math:`j` (itself excluded; ties by the
    smaller item id) and :math:`\lambda` the shrinkage; i.e.
    :math:`\hat{\mathbf{y}}_u = \mathbf{r}_u S^\top` with :math:`S` the
    sparse top-``k`` similarity matrix (:func:`item_similarity`).

    Sarwar et al., "Item-Based Collaborative Filtering Recommendation
    Algorithms", WWW 2001 (cosine similarity, top-k model); binary
    implicit-feedback form and shrinkage as in RecBole's / Elliot's
    ``ItemKNN``. Deviations: the RecBole denominator's ``+1e-6`` guard is
    dropped (only co-occurring pairs, whose norms are positive, are
    computed); ties at the k-th neighbour go to the smaller item id. Nothing
    is trained.

    Args:
        similarity: ``[num_items, num_items]`` sparse CSR :math:`S` (row =
            target item, its kept neighbours as columns).
        interactions: ``[num_users, num_items]`` sparse CSR binary train matrix.
    """

    similarity: Tensor
    train_crow: Tensor
    train_col: Tensor

    def __init__(self, similarity: Tensor, interactions: Tensor) -> None:
        super().__init__()
        self.num_users, self.num_items = interactions.shape
        self.register_buffer("similarity", similarity, persistent=False)
        self.register_buffer("train_crow", interactions.crow_indices(), persistent=False)
        self.register_buffer("train_col", interactions.col_indices(), persistent=False)

    @classmethod
    def from_graph(cls, graph: RecGraph, k: int = 100, shrink: float = 0.0) -> ItemKNN:
        """Similarities from the graph's TRAIN user–item edges.

        Args:
            graph: the training graph.
            k: neighbours kept per item.
            shrink: shrinkage :math:`\\lambda \\ge 0` of the cosine denominator.
        """
        check_int("k", k)
        if isinstance(shrink, bool) or not isinstance(shrink, int | float) or shrink < 0:
            raise ValueError(f"shrink must be a number >= 0 (e.g. 0 or 10), got {shrink!r}")
        r = train_interactions(graph)
        device = graph.edge_index.device
        sim = to_torch_csr(item_similarity(r, k, float(shrink))).to(device)
        return cls(sim, to_torch_csr(r).to(device))

    def reset_parameters(self) -> None:
        """Nothing to reset: the model has no parameters."""

    def forward(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError("ItemKNN has no embeddings; use scorer()")

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return torch.zeros((), device=self.similarity.device)

    def score(self, users: Tensor, out: Tensor | None = None) -> Tensor:
        """``[B, num_items]`` scores of ``[B]`` users (into ``out`` when given)."""
        r_t = user_rows_transposed(self.train_crow, self.train_col, users, self.num_items)
        scores = torch.sparse.mm(self.similarity, r_t).T
        return scores.contiguous() if out is None else out.copy_(scores)

    @torch.no_grad()
    def scorer(self) -> Scorer:
        return ChunkScorer(self.score)

    def __repr__(self) -> str:
        return (
            f"ItemKNN(users={self.num_users}, items={self.num_items}, "
            f"neighbours={self.similarity.values().numel()})"
        )
