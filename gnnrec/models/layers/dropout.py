r"""Dropout on sparse adjacencies (edge / "node" dropout of graph recommenders).

NGCF's node dropout (Wang et al., SIGIR 2019; the authors' ``_dropout_sparse``)
and LightGCN's optional edge dropout both drop each stored non-zero of the
normalised adjacency with probability :math:`p` for one training step and
rescale the survivors by :math:`1/(1-p)`, so that the expected adjacency is
unchanged:

.. math::
    \tilde{A}_{uv} = \frac{m_{uv}}{1-p} \hat{A}_{uv}, \qquad
    m_{uv} \sim \operatorname{Bernoulli}(1-p).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor


def check_probability(name: str, value: object) -> float:
    """Validate a dropout probability hyper-parameter (``0 <= p < 1``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def sparse_value_dropout(adjacency: Tensor, p: float, training: bool = True) -> Tensor:
    """``adjacency`` with each stored value zeroed with probability ``p``, survivors
    scaled by ``1 / (1 - p)``.

    The sparsity pattern is kept (dropped entries become explicit zeros), which
    gives the same products as removing them. Randomness comes from torch's
    global generator, as for :func:`torch.nn.functional.dropout`.

    Args:
        adjacency: ``[N, N]`` sparse CSR or COO matrix.
        p: drop probability of each non-zero.
        training: when False (or ``p == 0``) the input is returned unchanged.

    Returns:
        A sparse matrix of the same layout and shape.
    """
    if not training or p == 0:
        return adjacency
    if adjacency.layout == torch.sparse_csr:
        values = F.dropout(adjacency.values(), p, training=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                adjacency.crow_indices(), adjacency.col_indices(), values, size=adjacency.shape
            )
    if adjacency.layout == torch.sparse_coo:
        adjacency = adjacency.coalesce()
        values = F.dropout(adjacency.values(), p, training=True)
        return torch.sparse_coo_tensor(
            adjacency.indices(), values, size=adjacency.shape, is_coalesced=True
        )
    raise ValueError(f"needs a sparse CSR or COO adjacency, not {adjacency.layout}")
