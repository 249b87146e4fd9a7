"""Linear propagation over a sparse normalised adjacency (LightGCN-style layers)."""

from __future__ import annotations

import torch
from torch import Tensor


def propagate_layers(adjacency: Tensor, x: Tensor, num_layers: int) -> list[Tensor]:
    r"""Layer outputs :math:`[\mathbf{X}, \hat{\mathbf{A}}\mathbf{X}, \dots,
    \hat{\mathbf{A}}^{K}\mathbf{X}]` (``K + 1`` matrices ``[N, d]``).

    Args:
        adjacency: ``[N, N]`` sparse (CSR or COO) normalised adjacency.
        x: ``[N, d]`` layer-0 node matrix.
        num_layers: :math:`K`.
    """
    layers = [x]
    for _ in range(num_layers):
        x = torch.sparse.mm(adjacency, x)
        layers.append(x)
    return layers
