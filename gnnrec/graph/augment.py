r"""Random graph views for graph contrastive learning (SGL's structure augmentations).

Each function takes the training graph's homogeneous edge list
(:attr:`RecGraph.edge_index`: both directions of every edge, nodes ordered
users, items(, categories)) and a seeded :class:`torch.Generator`, and returns
the symmetric-normalised adjacency :math:`D'^{-1/2} A' D'^{-1/2}` of the
perturbed graph :math:`A'` (degrees recomputed on the view) as a torch sparse
CSR tensor, built by :func:`gnnrec.graph.build.adjacency`.

Wu et al., "Self-supervised Graph Learning for Recommendation", SIGIR 2021,
Sec. 3.1; as in their reference code (wujcan/SGL-Torch) a dropout ratio
:math:`\rho` removes exactly :math:`\lfloor \rho n \rfloor` of the ``n``
candidates (chosen uniformly without replacement) rather than each one by an
independent coin flip.

Only user–item interaction edges are augmented: item–category edges (present
when the graph includes category nodes) are side information and stay in
every view, and category nodes are never dropped.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnnrec.graph.build import adjacency

AUGMENTATIONS = ("ed", "nd", "rw")


def _check_ratio(drop_ratio: float) -> float:
    if isinstance(drop_ratio, bool) or not isinstance(drop_ratio, int | float):
        raise ValueError(f"drop_ratio must be a number in [0, 1), got {drop_ratio!r}")
    if not 0.0 <= drop_ratio < 1.0:
        raise ValueError(f"drop_ratio must be in [0, 1), got {drop_ratio!r}")
    return float(drop_ratio)


def _one_way(edge_index: Tensor) -> Tensor:
    """``[2, E/2]`` each undirected edge once (``src < dst``; the graph has no self-loops)."""
    return edge_index[:, edge_index[0] < edge_index[1]]


def _both_ways(one_way: Tensor) -> Tensor:
    return torch.cat([one_way, one_way.flip(0)], dim=1)


def _choose(n: int, k: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """``k`` distinct indices of ``range(n)`` drawn uniformly (on ``device``)."""
    return torch.randperm(n, generator=generator, device=generator.device)[:k].to(device)


def drop_interaction_edges(
    edge_index: Tensor, num_users: int, drop_ratio: float, generator: torch.Generator
) -> Tensor:
    r"""The edge list without :math:`\lfloor \rho |\mathcal{E}_{UI}| \rfloor` random
    user–item edges (both directions of each); other edges are kept.

    Args:
        edge_index: ``[2, E]`` training edges, both directions.
        num_users: users are nodes ``0 .. num_users - 1``.
        drop_ratio: :math:`\rho \in [0, 1)`.
        generator: source of the randomness.

    Returns:
        ``[2, E']`` edge list, both directions.
    """
    rho = _check_ratio(drop_ratio)
    edges = _one_way(edge_index)
    interaction = edges[0] < num_users  # users link only to items, and src < dst
    ui, other = edges[:, interaction], edges[:, ~interaction]
    n = ui.shape[1]
    keep = _choose(n, n - int(n * rho), generator, ui.device).sort().values
    return _both_ways(torch.cat([ui.index_select(1, keep), other], dim=1))


def drop_nodes(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    drop_ratio: float,
    generator: torch.Generator,
) -> Tensor:
    r"""The edge list without :math:`\lfloor \rho |\mathcal{U}| \rfloor` random users,
    :math:`\lfloor \rho |\mathcal{I}| \rfloor` random items and every edge that
    touches them (their item–category edges included); categories stay.

    Args:
        edge_index: ``[2, E]`` training edges, both directions.
        num_users: users are nodes ``0 .. num_users - 1``.
        num_items: items are nodes ``num_users .. num_users + num_items - 1``.
        drop_ratio: :math:`\rho \in [0, 1)`.
        generator: source of the randomness.

    Returns:
        ``[2, E']`` edge list, both directions.
    """
    rho = _check_ratio(drop_ratio)
    device = edge_index.device
    num_nodes = max(int(edge_index.max()) + 1 if edge_index.numel() else 0, num_users + num_items)
    dropped = torch.zeros(num_nodes, dtype=torch.bool, device=device)
    dropped[_choose(num_users, int(num_users * rho), generator, device)] = True
    dropped[num_users + _choose(num_items, int(num_items * rho), generator, device)] = True
    edges = _one_way(edge_index)
    keep = ~(dropped[edges[0]] | dropped[edges[1]])
    return _both_ways(edges[:, keep])


def edge_dropout(
    edge_index: Tensor,
    num_nodes: int,
    num_users: int,
    drop_ratio: float,
    generator: torch.Generator,
) -> Tensor:
    """SGL-ED view: ``[N, N]`` normalised CSR adjacency of :func:`drop_interaction_edges`."""
    return adjacency(
        drop_interaction_edges(edge_index, num_users, drop_ratio, generator), num_nodes
    )


def node_dropout(
    edge_index: Tensor,
    num_nodes: int,
    num_users: int,
    num_items: int,
    drop_ratio: float,
    generator: torch.Generator,
) -> Tensor:
    """SGL-ND view: ``[N, N]`` normalised CSR adjacency of :func:`drop_nodes`."""
    return adjacency(drop_nodes(edge_index, num_users, num_items, drop_ratio, generator), num_nodes)


def random_walk(
    edge_index: Tensor,
    num_nodes: int,
    num_users: int,
    drop_ratio: float,
    num_layers: int,
    generator: torch.Generator,
) -> list[Tensor]:
    """SGL-RW view: one independent edge-dropout adjacency per layer (``num_layers`` of them)."""
    return [
        edge_dropout(edge_index, num_nodes, num_users, drop_ratio, generator)
        for _ in range(num_layers)
    ]


def augmented_view(
    aug_type: str,
    edge_index: Tensor,
    num_nodes: int,
    num_users: int,
    num_items: int,
    drop_ratio: float,
    num_layers: int,
    generator: torch.Generator,
) -> list[Tensor]:
    """One view as its per-layer adjacencies (``num_layers`` entries; ``ed`` and ``nd``
    repeat one adjacency, ``rw`` draws one per layer)."""
    if aug_type == "ed":
        return [edge_dropout(edge_index, num_nodes, num_users, drop_ratio, generator)] * num_layers
    if aug_type == "nd":
        view = node_dropout(edge_index, num_nodes, num_users, num_items, drop_ratio, generator)
        return [view] * num_layers
    if aug_type == "rw":
        return random_walk(edge_index, num_nodes, num_users, drop_ratio, num_layers, generator)
    raise ValueError(f"aug_type must be one of {', '.join(AUGMENTATIONS)}; got {aug_type!r}")
