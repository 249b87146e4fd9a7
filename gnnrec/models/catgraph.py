"""CategoryGraphRec: LightGCN over users, items, categories and category co-occurrence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from gnnrec.errors import ConfigError
from gnnrec.graph.build import BELONGS_TO, CO_OCCURS, INTERACTS, RecGraph, to_torch_csr
from gnnrec.models.base import GraphRecommender, check_int
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.propagate import propagate_layers, spmm, transpose_csr

MIXES = ("learned", "fixed", "off")
"""How the category affinity enters the score: a learned scalar, a fixed one, or not at all."""


def category_graph_adjacency(graph: RecGraph, cooccurrence_weight: float) -> sp.csr_matrix:
    r"""The symmetric-normalised adjacency over users, items and categories.

    .. math::
        \mathbf{A} = \begin{pmatrix}
            \mathbf{0} & \mathbf{R} & \mathbf{0} \\
            \mathbf{R}^\top & \mathbf{0} & \mathbf{B} \\
            \mathbf{0} & \mathbf{B}^\top & w\,\mathbf{C}
        \end{pmatrix}, \qquad
        \hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2},
        \quad D_{vv} = \textstyle\sum_{v'} A_{vv'},

    with :math:`\mathbf{R}` the binary train user–item matrix, :math:`\mathbf{B}`
    the item→category map, :math:`\mathbf{C}` the binary category co-occurrence
    edges of ``graph.hetero`` (``(category, co_occurs, category)``, none when the
    graph was built without them) and :math:`w` = ``cooccurrence_weight``, which
    also counts in the degrees. Nodes ordered users, items, categories; isolated
    nodes keep an all-zero row.
    """
    nu, ni, nc = graph.num_users, graph.num_items, graph.num_categories
    n = nu + ni + nc
    ui = graph.hetero[INTERACTS].edge_index.cpu().numpy()
    ic = graph.hetero[BELONGS_TO].edge_index.cpu().numpy()
    rows = np.concatenate([ui[0], ic[0] + nu])
    cols = np.concatenate([ui[1] + nu, ic[1] + nu + ni])
    one_way = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    one_way.data[:] = 1.0  # repeated pairs count once
    a = (one_way + one_way.T).tocsr()
    if cooccurrence_weight > 0 and CO_OCCURS in graph.hetero.edge_types:
        cc = graph.hetero[CO_OCCURS].edge_index.cpu().numpy() + nu + ni
        together = sp.csr_matrix((np.ones(cc.shape[1]), (cc[0], cc[1])), shape=(n, n))
        together.data[:] = 1.0
        a = (a + cooccurrence_weight * together).tocsr()
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    d = sp.diags(inv_sqrt)
    out = (d @ a @ d).tocsr()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def category_mean_matrix(graph: RecGraph) -> sp.csr_matrix:
    r"""``[num_items, num_categories]`` :math:`M_{ic} = 1/|\mathcal{C}_i|` for
    :math:`c \in \mathcal{C}_i` (item :math:`i`'s categories); rows of items
    without a category are zero."""
    ic = graph.item_category_index().cpu().numpy()
    shape = (graph.num_items, graph.num_categories)
    m = sp.csr_matrix((np.ones(ic.shape[1]), (ic[0], ic[1])), shape=shape)
    m.data[:] = 1.0
    counts = np.asarray(m.sum(axis=1)).ravel()
    inv = np.zeros_like(counts)
    inv[counts > 0] = 1.0 / counts[counts > 0]
    return (sp.diags(inv) @ m).tocsr()


class CategoryGraphRec(GraphRecommender):
    r"""LightGCN over users, items and categories, with category–category
    co-occurrence edges, scoring item and category affinity.

    .. math::
        \mathbf{E}^{(k+1)} = \hat{\mathbf{A}} \mathbf{E}^{(k)}, \qquad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)}, \qquad
        \bar{\mathbf{c}}_i = \frac{1}{|\mathcal{C}_i|} \sum_{c \in \mathcal{C}_i} \mathbf{e}_c,

    .. math::
        \hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i
            + \gamma\, \mathbf{e}_u^\top \bar{\mathbf{c}}_i
        = \mathbf{e}_u^\top (\mathbf{e}_i + \gamma\, \bar{\mathbf{c}}_i),

    with :math:`\hat{\mathbf{A}}` the symmetric-normalised adjacency of the
    user–item, item–category and (weight :math:`w`) category–category edges
    (:func:`category_graph_adjacency`), :math:`\mathcal{C}_i` item :math:`i`'s
    categories (:math:`\bar{\mathbf{c}}_i = \mathbf{0}` when it has none) and
    :math:`\mathbf{e}_c` the final (layer-combined) category embeddings.

    Because the score is linear in the item side, :meth:`forward` returns
    ``(user_emb, item_emb')`` with :math:`\mathbf{e}'_i = \mathbf{e}_i +
    \gamma\bar{\mathbf{c}}_i`: the dot-product scorer, the evaluator, the
    samplers and every loss (BPR, sampled softmax, DirectAU) then see the
    mixed score without knowing about categories.

    No single paper: a gnnrec composition of LightGCN's propagation (He et
    al., "LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation", SIGIR 2020) with category hub nodes, category–category
    edges between categories that enough users share in their TRAIN
    histories (``model.graph.category_cooccurrence``) and an additive
    category-affinity term. Differences from LightGCN: category nodes and
    their edges in :math:`\hat{\mathbf{A}}`, weighted cat–cat edges that count
    in the degrees, and the :math:`\gamma` term. With ``mix="off"`` and
    :math:`w = 0` it is exactly LightGCN with category hubs. The L2 term
    covers the layer-0 rows of the batch's users and items only (as LightGCN
    with hubs); neither category embeddings nor :math:`\gamma` are penalised.

    Args:
        adjacency: ``[N, N]`` symmetric normalised sparse adjacency, nodes
            ordered users, items, categories.
        category_mean: ``[num_items, num_categories]`` sparse
            :math:`M_{ic} = 1/|\mathcal{C}_i|` (:func:`category_mean_matrix`).
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K`.
        alpha: layer-combination weights (length ``K + 1``); None gives
            :math:`1/(K+1)` each.
        combine: layer combination
            (:func:`~gnnrec.models.layers.combine.layer_combination`).
        mix: ``learned`` (:math:`\gamma` a trained scalar starting at
            ``mix_init``), ``fixed`` (:math:`\gamma` = ``mix_init``) or ``off``
            (:math:`\gamma = 0`: item affinity only).
        mix_init: initial (``learned``) or constant (``fixed``) :math:`\gamma`.
        init_std: standard deviation of the normal initialisation.
    """

    adjacency: Tensor
    category_mean: Tensor
    category_mean_t: Tensor

    def __init__(
        self,
        adjacency: Tensor,
        category_mean: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: Sequence[float] | None = None,
        combine: str = "mean",
        mix: str = "learned",
        mix_init: float = 0.5,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers, minimum=0)
        if mix not in MIXES:
            raise ValueError(f"mix must be one of {', '.join(MIXES)}; got {mix!r}")
        if isinstance(mix_init, bool) or not isinstance(mix_init, int | float):
            raise ValueError(f"mix_init must be a number, got {mix_init!r}")
        num_categories = category_mean.shape[1]
        if adjacency.shape[0] != num_users + num_items + num_categories:
            raise ValueError(
                f"adjacency has {adjacency.shape[0]} nodes; expected users + items + "
                f"categories = {num_users} + {num_items} + {num_categories}"
            )
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.init_std = init_std
        self.mix = mix
        self.mix_init = float(mix_init)
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.register_buffer("category_mean", category_mean, persistent=False)
        self.register_buffer("category_mean_t", transpose_csr(category_mean), persistent=False)
        self.embedding = nn.Embedding(adjacency.shape[0], embedding_dim)
        if alpha is not None and combine == "mean":
            combine = "weighted"
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        if mix == "learned":
            self.gamma = nn.Parameter(torch.tensor(self.mix_init))
        else:
            gamma = self.mix_init if mix == "fixed" else 0.0
            self.register_buffer("gamma", torch.tensor(gamma))
        self.reset_parameters()

    @classmethod
    def from_graph(
        cls, graph: RecGraph, cooccurrence_weight: float = 1.0, **hparams
    ) -> CategoryGraphRec:
        """Build over a training graph with category hubs (and co-occurrence edges).

        ``cooccurrence_weight`` is :math:`w`, the weight of the category–category
        edges of ``graph.hetero``; 0 leaves them out.
        """
        if graph.num_categories == 0:
            raise ConfigError(
                "model catgraph needs item categories, but the dataset has none; "
                "pick a dataset with categories or another model"
            )
        if not graph.include_categories:
            raise ConfigError(
                "model catgraph propagates over category nodes; "
                "set model.graph.include_categories=true"
            )
        w = cooccurrence_weight
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            raise ValueError(f"cooccurrence_weight must be a number >= 0, got {w!r}")
        if w > 0 and CO_OCCURS not in graph.hetero.edge_types:
            raise ConfigError(
                f"model catgraph has cooccurrence_weight={w} but the graph has no category "
                "co-occurrence edges; set model.graph.category_cooccurrence=<min users> "
                "(or cooccurrence_weight=0)"
            )
        device = graph.edge_index.device
        a = to_torch_csr(category_graph_adjacency(graph, float(w))).to(device)
        m = to_torch_csr(category_mean_matrix(graph)).to(device)
        return cls(a, m, graph.num_users, graph.num_items, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        self.combine.reset_parameters()
        if isinstance(self.gamma, nn.Parameter):
            with torch.no_grad():
                self.gamma.fill_(self.mix_init)

    def layers(self) -> list[Tensor]:
        r"""The ``K + 1`` layer outputs :math:`\mathbf{E}^{(0)}, \dots, \mathbf{E}^{(K)}`
        (``[N, d]`` each)."""
        return propagate_layers(self.adjacency, self.embedding.weight, self.num_layers)

    def representations(self) -> tuple[Tensor, Tensor, Tensor]:
        r"""``(e_u [num_users, d'], e_i [num_items, d'], c̄_i [num_items, d'])``: the
        final user and item embeddings and each item's mean category embedding
        :math:`\bar{\mathbf{c}}_i` (before mixing)."""
        x = self.propagate()
        nu, ni = self.num_users, self.num_items
        categories = x[nu + ni :]
        item_categories = spmm(self.category_mean, categories, self.category_mean_t)
        return x[:nu], x[nu : nu + ni], item_categories

    def forward(self) -> tuple[Tensor, Tensor]:
        r"""``(e_u, e_i + γ c̄_i)``: dot products give :math:`\hat y_{ui}`."""
        users, items, item_categories = self.representations()
        if self.mix == "off":
            return users, items
        return users, items + self.gamma * item_categories

    def extra_repr_items(self) -> list[str]:
        return [f"mix={self.mix}"]
