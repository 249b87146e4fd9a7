"""GF-CF: graph filters for collaborative filtering (training-free)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds
from torch import Tensor

from gnnrec.graph.build import RecGraph, to_torch_csr
from gnnrec.models.base import Recommender, Scorer, check_int
from gnnrec.models.itemknn import (
    ChunkScorer,
    train_interactions,
    user_rows_transposed,
)

_BLOCK_BYTES = 256 * 2**20
"""Bound on the ``[num_users, b]`` float32 intermediate of the linear filter."""


def _inverse_sqrt(degree: np.ndarray) -> np.ndarray:
    out = np.zeros_like(degree, dtype=np.float64)
    nz = degree > 0
    out[nz] = degree[nz] ** -0.5
    return out


def normalized_interactions(matrix: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    r""":math:`\tilde R = D_U^{-1/2} R D_I^{-1/2}` and the item degrees :math:`D_I`.

    Users or items without interactions keep zero rows / columns (their
    inverse square-root degree is taken as 0).
    """
    r = sp.csr_matrix(matrix, dtype=np.float64)
    user_deg = np.asarray(r.sum(axis=1)).ravel()
    item_deg = np.asarray(r.sum(axis=0)).ravel()
    norm = sp.diags(_inverse_sqrt(user_deg)) @ r @ sp.diags(_inverse_sqrt(item_deg))
    norm = sp.csr_matrix(norm)
    norm.sort_indices()
    return norm, item_deg


def top_right_singular_vectors(matrix: sp.spmatrix, rank: int) -> np.ndarray:
    """``[num_cols, rank]`` top right singular vectors of ``matrix`` (float64).

    ARPACK (``scipy.sparse.linalg.svds``) from a fixed starting vector, so the
    same matrix gives bitwise the same vectors; ``rank`` must be below
    ``min(matrix.shape)``.
    """
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=min(matrix.shape))
    _, _, vt = svds(sp.csr_matrix(matrix, dtype=np.float64), k=rank, v0=v0, solver="arpack")
    return vt.T


class GFCF(Recommender):
    r"""GF-CF: a normalised item–item linear filter plus an ideal low-pass filter.

    .. math::
        \hat{\mathbf{y}}_u = \mathbf{r}_u \left( \tilde R^\top \tilde R
            + \alpha\, D_I^{-1/2} \bar V_k \bar V_k^\top D_I^{1/2} \right),
        \qquad \tilde R = D_U^{-1/2} R D_I^{-1/2},

    with :math:`R` the binary TRAIN interaction matrix, :math:`D_U, D_I` the
    user and item degrees, :math:`\mathbf{r}_u` user :math:`u`'s (binary) row
    of :math:`R` and :math:`\bar V_k` the top-:math:`k` right singular vectors
    of :math:`\tilde R`. The linear part is computed per user chunk as two
    sparse products :math:`(\mathbf{r}_u \tilde R^\top) \tilde R`, so the
    dense :math:`I \times I` matrix :math:`\tilde R^\top \tilde R` is never
    built; the low-pass part is two thin dense products.

    Shen et al., "How Powerful is Graph Convolution for Recommendation?",
    CIKM 2021; matches the reference code (github.com/yshenaw/GF_CF,
    ``Table3&4/model.py``, ``GF_CF.getUsersRating``), which multiplies the
    raw binary row :math:`\mathbf{r}_u` (not the normalised
    :math:`\tilde{\mathbf{r}}_u`) and uses :math:`\alpha = 0.3`,
    :math:`k = 256`. Deviations: the SVD is ARPACK's (``scipy svds`` with a
    fixed starting vector, deterministic) instead of SVDLIBC's
    ``sparsesvd``; :math:`k` is clamped to :math:`\min(|U|, |I|) - 1`
    (ARPACK's limit); items without training interactions get
    :math:`D_I^{1/2} = 0` where the reference divides by zero. ``svd_rank=0``
    or ``alpha=0`` gives the linear filter alone (the reference's setting
    on Amazon-Book). Nothing is trained.

    Args:
        normalized: ``[num_users, num_items]`` sparse CSR :math:`\tilde R`.
        interactions: ``[num_users, num_items]`` sparse CSR binary :math:`R`.
        low_pass_in: ``[num_items, k]`` :math:`\alpha D_I^{-1/2} \bar V_k`.
        low_pass_out: ``[num_items, k]`` :math:`D_I^{1/2} \bar V_k`.
    """

    normalized: Tensor
    normalized_t: Tensor
    train_crow: Tensor
    train_col: Tensor
    low_pass_in: Tensor
    low_pass_out: Tensor

    def __init__(
        self,
        normalized: Tensor,
        interactions: Tensor,
        low_pass_in: Tensor,
        low_pass_out: Tensor,
    ) -> None:
        super().__init__()
        self.num_users, self.num_items = interactions.shape
        self.register_buffer("normalized", normalized, persistent=False)
        self.register_buffer("normalized_t", _transpose_csr(normalized), persistent=False)
        self.register_buffer("train_crow", interactions.crow_indices(), persistent=False)
        self.register_buffer("train_col", interactions.col_indices(), persistent=False)
        self.register_buffer("low_pass_in", low_pass_in)
        self.register_buffer("low_pass_out", low_pass_out)

    @classmethod
    def from_graph(cls, graph: RecGraph, alpha: float = 0.3, svd_rank: int = 256) -> GFCF:
        """Filters from the graph's TRAIN user–item edges.

        Args:
            graph: the training graph.
            alpha: weight :math:`\\alpha` of the ideal low-pass filter.
            svd_rank: number :math:`k` of singular vectors (clamped to
                ``min(num_users, num_items) - 1``; 0 turns the low-pass filter off).
        """
        check_int("svd_rank", svd_rank, minimum=0)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise ValueError(f"alpha must be a number (the paper uses 0.3), got {alpha!r}")
        r = train_interactions(graph)
        norm, item_deg = normalized_interactions(r)
        rank = min(svd_rank, min(r.shape) - 1) if alpha != 0 else 0
        v = top_right_singular_vectors(norm, rank) if rank > 0 else np.zeros((r.shape[1], 0))
        low_in = float(alpha) * _inverse_sqrt(item_deg)[:, None] * v
        low_out = np.sqrt(item_deg)[:, None] * v
        device = graph.edge_index.device
        return cls(
            to_torch_csr(norm).to(device),
            to_torch_csr(r).to(device),
            torch.from_numpy(low_in.astype(np.float32)).to(device),
            torch.from_numpy(low_out.astype(np.float32)).to(device),
        )

    def reset_parameters(self) -> None:
        """Nothing to reset: the model has no parameters."""

    def forward(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError("GFCF has no embeddings; use scorer()")

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return torch.zeros((), device=self.low_pass_in.device)

    def score(self, users: Tensor, out: Tensor | None = None) -> Tensor:
        """``[B, num_items]`` scores of ``[B]`` users (into ``out`` when given)."""
        if out is None:
            out = torch.empty(len(users), self.num_items, dtype=torch.float32, device=users.device)
        block = max(1, _BLOCK_BYTES // (4 * max(self.num_users, 1)))
        for start in range(0, len(users), block):
            rows = users[start : start + block]
            part = out[start : start + block]
            r_t = user_rows_transposed(self.train_crow, self.train_col, rows, self.num_items)
            # (r_u R~^T) R~ as two sparse products, computed transposed: [U, b] then [I, b].
            linear_t = torch.sparse.mm(self.normalized_t, torch.sparse.mm(self.normalized, r_t))
            part.copy_(linear_t.T)
            if self.low_pass_in.shape[1]:
                part.addmm_(r_t.T @ self.low_pass_in, self.low_pass_out.T)
        return out

    @torch.no_grad()
    def scorer(self) -> Scorer:
        return ChunkScorer(self.score)

    def __repr__(self) -> str:
        return (
            f"GFCF(users={self.num_users}, items={self.num_items}, "
            f"svd_rank={self.low_pass_in.shape[1]})"
        )


def _transpose_csr(m: Tensor) -> Tensor:
    """The transpose of a torch CSR matrix, as CSR (on the same device)."""
    return m.t().to_sparse_csr()
