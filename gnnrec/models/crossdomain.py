"""CrossDomainGCN: LightGCN per domain over shared user and item embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from gnnrec.errors import ConfigError
from gnnrec.graph.build import RecGraph, normalized_adjacency, to_torch_csr
from gnnrec.models.base import GraphRecommender, check_int, require_user_item_graph
from gnnrec.models.layers.combine import LayerCombination, layer_combination
from gnnrec.models.layers.propagate import propagate_layers

DOMAIN_COMBINATIONS = ("mean", "learned", "attention")
"""How a user's per-domain representations become one (``domain_combine``)."""


def domain_adjacencies(
    users: np.ndarray,
    items: np.ndarray,
    domains: np.ndarray,
    num_domains: int,
    num_users: int,
    num_items: int,
) -> list[sp.csr_matrix]:
    r"""One symmetric-normalised user–item adjacency per domain.

    .. math::
        \mathbf{A}_d = \begin{pmatrix} \mathbf{0} & \mathbf{R}_d \\
            \mathbf{R}_d^\top & \mathbf{0} \end{pmatrix}, \qquad
        \hat{\mathbf{A}}_d = \mathbf{D}_d^{-1/2}\mathbf{A}_d\mathbf{D}_d^{-1/2},

    with :math:`\mathbf{R}_d` the binary matrix of the training interactions
    whose domain is :math:`d` (repeated pairs count once) and
    :math:`\mathbf{D}_d` the degrees within domain :math:`d`. Nodes are
    ordered users, items (``[num_users + num_items]`` square); a node without
    an interaction in :math:`d` keeps an all-zero row.

    Args:
        users, items, domains: ``[E]`` user ids, item ids and domain codes
            (``0..num_domains-1``) of the training interactions.
    """
    out = []
    for d in range(num_domains):
        mask = domains == d
        edges = np.vstack([users[mask], items[mask] + num_users]).astype(np.int64)
        both = np.concatenate([edges, edges[::-1]], axis=1)
        out.append(normalized_adjacency(both, num_users + num_items))
    return out


def item_domain_weights(
    items: np.ndarray, domains: np.ndarray, num_domains: int, num_items: int
) -> Tensor:
    r"""``[num_items, num_domains]`` weights :math:`m_{id}` of each item's per-domain rows.

    :math:`m_{id} = 1/|\mathcal{D}_i|` for the domains :math:`\mathcal{D}_i`
    in which item :math:`i` has training interactions (an item sold in two
    shops averages its two representations), and :math:`1/D` for every
    domain when it has none (all its per-domain rows are then equal: the
    item is isolated in every domain graph).
    """
    seen = np.zeros((num_items, num_domains), dtype=np.float64)
    seen[items, domains] = 1.0
    counts = seen.sum(axis=1, keepdims=True)
    weights = np.where(counts > 0, seen / np.maximum(counts, 1.0), 1.0 / num_domains)
    return torch.from_numpy(weights.astype(np.float32))


class CrossDomainGCN(GraphRecommender):
    r"""Cross-domain LightGCN: one graph per domain, one shared embedding table.

    Every user and item has one layer-0 embedding :math:`\mathbf{e}^{(0)}`
    shared by all domains. Each domain :math:`d` propagates it LightGCN's way
    over its own user–item graph (:func:`domain_adjacencies`):

    .. math::
        \mathbf{E}_d^{(k+1)} = \hat{\mathbf{A}}_d \mathbf{E}_d^{(k)}, \quad
        \mathbf{E}_d^{(0)} = \mathbf{E}^{(0)}, \qquad
        \mathbf{E}_d = \sum_{k=0}^{K} \alpha_k \mathbf{E}_d^{(k)},

    users combine their per-domain representations and items average theirs
    over the domains they were interacted with in training
    (:func:`item_domain_weights`):

    .. math::
        \mathbf{e}_u = \sum_{d} \beta_{ud}\, \mathbf{e}_{u,d}, \qquad
        \mathbf{e}_i = \sum_{d} m_{id}\, \mathbf{e}_{i,d}, \qquad
        \hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i,

    with :math:`\beta_{ud}` given by ``domain_combine``: ``mean``
    (:math:`1/D`), ``learned`` (:math:`\operatorname{softmax}(\mathbf{w})_d`,
    one logit per domain, shared by all users) or ``attention`` (per user,
    :math:`\operatorname{softmax}_d(\mathbf{q}^\top \tanh(\mathbf{W}
    \mathbf{e}_{u,d} + \mathbf{b}))`, the layer attention of
    :class:`~gnnrec.models.layers.combine.LayerAttention` applied across
    domains).

    Transfer to a user cold in a domain :math:`t` (no training interaction
    there) goes through the shared embedding: the user is isolated in
    :math:`\hat{\mathbf{A}}_t`, so :math:`\mathbf{e}_{u,t} = \alpha_0
    \mathbf{e}^{(0)}_u`, the same row the other domains' interactions train;
    scores against :math:`t`'s items use it and the user's other-domain rows.

    Related work: collective matrix factorisation shares one user factor
    across relations (Singh & Gordon, "Relational Learning via Collective
    Matrix Factorization", KDD 2008); BiTGCF (Liu et al., "Cross Domain
    Recommendation via Bi-directional Transfer Graph Collaborative Filtering
    Networks", CIKM 2020) runs a graph convolution per domain and mixes the
    overlapping users' per-domain features at every layer. Deviations from
    BiTGCF: one shared user embedding instead of one per domain with
    per-layer feature transfer; items are embedded once for all domains;
    users combine domains once, after propagation; scores are dot products
    (no per-domain prediction heads).

    Args:
        adjacencies: one ``[N, N]`` sparse normalised adjacency per domain,
            nodes ordered users, items (``N = num_users + num_items``).
        item_weights: ``[num_items, D]`` :math:`m_{id}` (rows sum to 1).
        num_users: number of users.
        num_items: number of items.
        domain_names: the name of each domain (for the summary line).
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K`.
        alpha: layer-combination weights (length ``K + 1``); None gives
            :math:`1/(K+1)` each (LightGCN).
        combine: layer combination per domain (``mean``, ``weighted``,
            ``learned``, ``last``, ``concat``, ``attention``; see
            :func:`~gnnrec.models.layers.combine.layer_combination`).
        domain_combine: ``mean``, ``learned`` or ``attention`` (see above).
        init_std: standard deviation of the normal initialisation.
    """

    adjacency: Tensor
    item_weights: Tensor

    def __init__(
        self,
        adjacencies: Sequence[sp.spmatrix],
        item_weights: Tensor,
        num_users: int,
        num_items: int,
        domain_names: Sequence[str],
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: Sequence[float] | None = None,
        combine: str = "mean",
        domain_combine: str = "mean",
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers, minimum=0)
        if domain_combine not in DOMAIN_COMBINATIONS:
            raise ValueError(
                f"domain_combine must be one of {', '.join(DOMAIN_COMBINATIONS)}; "
                f"got {domain_combine!r}"
            )
        num_nodes = num_users + num_items
        if not adjacencies or any(a.shape != (num_nodes, num_nodes) for a in adjacencies):
            raise ValueError(f"expected one or more [{num_nodes}, {num_nodes}] adjacencies")
        if len(domain_names) != len(adjacencies):
            raise ValueError(f"{len(domain_names)} domain names for {len(adjacencies)} adjacencies")
        if tuple(item_weights.shape) != (num_items, len(adjacencies)):
            raise ValueError(
                f"item_weights has shape {tuple(item_weights.shape)}, "
                f"expected ({num_items}, {len(adjacencies)})"
            )
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.num_domains = len(adjacencies)
        self.domain_names = [str(n) for n in domain_names]
        self.init_std = init_std
        # the domains' graphs as one block-diagonal matrix: one product per layer
        block = to_torch_csr(sp.block_diag(list(adjacencies), format="csr"))
        self.register_buffer("adjacency", block, persistent=False)
        self.register_buffer("item_weights", item_weights.float(), persistent=False)
        self.embedding = nn.Embedding(num_nodes, embedding_dim)
        if alpha is not None and combine == "mean":
            combine = "weighted"
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        width = self.combine.out_dim(embedding_dim)
        # a combination of D "layers" is a combination of the D domain rows
        self.domain_combine: LayerCombination = layer_combination(
            domain_combine, self.num_domains - 1, width
        )
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, column: str = "domain", **hparams) -> CrossDomainGCN:
        """Build the domains' graphs from the training log's ``column`` codes.

        Raises:
            ConfigError: the training log has no ``column`` (the dataset has no
                domain column), or the graph includes category nodes.
        """
        log = graph.log
        if log is None or column not in log.codes:
            have = ", ".join(sorted(log.codes)) if log is not None else "no log"
            raise ConfigError(
                f"model=crossdomain needs a per-interaction '{column}' column in the dataset "
                f"(labelled columns: {have or 'none'}); use dataset=ml-100k-domains, or map "
                "one with interactions.columns.domain or interactions.files_as: domain"
            )
        require_user_item_graph(graph, "crossdomain", "user–item graphs per domain")
        names = log.names[column]
        users = log.users.cpu().numpy()
        items = log.items.cpu().numpy()
        domains = log.codes[column].cpu().numpy()
        adjacencies = domain_adjacencies(
            users, items, domains, len(names), graph.num_users, graph.num_items
        )
        weights = item_domain_weights(items, domains, len(names), graph.num_items)
        return cls(adjacencies, weights, graph.num_users, graph.num_items, names, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        self.combine.reset_parameters()
        self.domain_combine.reset_parameters()

    def layers(self) -> list[Tensor]:
        r"""The ``K + 1`` layer outputs ``[D * N, d]``: domain :math:`d`'s nodes
        are rows ``d * N`` to ``(d + 1) * N - 1``, all starting from the
        shared :math:`\mathbf{E}^{(0)}`."""
        x = self.embedding.weight.repeat(self.num_domains, 1)
        return propagate_layers(self.adjacency, x, self.num_layers)

    def domain_representations(self) -> Tensor:
        """``[D, N, d']`` every node's representation in every domain."""
        return self.propagate().view(self.num_domains, self.num_users + self.num_items, -1)

    def forward(self) -> tuple[Tensor, Tensor]:
        h = self.domain_representations()
        users = self.domain_combine(list(h[:, : self.num_users]))
        items = torch.einsum("id,dik->ik", self.item_weights, h[:, self.num_users :])
        return users, items

    def extra_repr_items(self) -> list[str]:
        return [
            f"domains={','.join(self.domain_names)}",
            f"domain_combine={type(self.domain_combine).__name__}",
        ]
