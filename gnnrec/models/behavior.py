"""Behaviour-typed LightGCN: user–item edges weighted by their behaviour (view, cart, fav, buy)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnrec.graph.build import INTERACTS, RecGraph
from gnnrec.models.base import GraphRecommender, check_int
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.dropout import check_probability

log = logging.getLogger(__name__)

BEHAVIOR = "behavior"
"""The :class:`~gnnrec.graph.build.TrainLog` column holding behaviour types."""

ONE_TYPE = "interaction"
"""The single type of a log without behaviour column."""


@dataclass
class TypedEdges:
    """A symmetric graph's directed edges in CSR order, with each edge's behaviour types.

    Attributes:
        crow: ``[N + 1]`` CSR row pointers.
        row, col: ``[E]`` source and target node of each edge (both directions).
        reverse: ``[E]`` position of each edge's reverse ``(col, row)``.
        slot_edge, slot_type: one entry per (edge, behaviour type) pair: the
            edge's position and the type (a user–item pair with several
            types has several).
        base: ``[E]`` weight that does not depend on a behaviour (1 on
            item–category edges, 0 on user–item edges).
        types: behaviour type names, indexed by ``slot_type``.
    """

    crow: Tensor
    row: Tensor
    col: Tensor
    reverse: Tensor
    slot_edge: Tensor
    slot_type: Tensor
    base: Tensor
    types: list[str]
    num_nodes: int


def typed_edges(
    users: np.ndarray,
    items: np.ndarray,
    codes: np.ndarray,
    types: Sequence[str],
    num_users: int,
    num_items: int,
    item_categories: np.ndarray | None = None,
    num_categories: int = 0,
) -> TypedEdges:
    """The typed edge structure of interactions ``(users[k], items[k])`` of type ``codes[k]``.

    Nodes are ordered users, items(, categories); a repeated (user, item,
    type) counts once. ``item_categories`` (``[2, C]`` item, category pairs)
    adds untyped item–category edges of weight 1.
    """
    n_types = len(types)
    triple = (users.astype(np.int64) * num_items + items) * n_types + codes
    triple = np.unique(triple)
    pair_key, slot_type = np.divmod(triple, n_types)
    pairs, slot_pair = np.unique(pair_key, return_inverse=True)
    u, i = np.divmod(pairs, num_items)
    num_nodes = num_users + num_items
    src, dst = [u, i + num_users], [i + num_users, u]
    base = [np.zeros(2 * len(pairs))]
    if item_categories is not None and item_categories.shape[1]:
        ic_item = item_categories[0] + num_users
        ic_cat = item_categories[1] + num_users + num_items
        src += [ic_item, ic_cat]
        dst += [ic_cat, ic_item]
        base.append(np.ones(2 * item_categories.shape[1]))
    if item_categories is not None:
        num_nodes += num_categories
    row, col = np.concatenate(src), np.concatenate(dst)
    order = np.lexsort((col, row))
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    row, col = row[order], col[order]
    key = row * num_nodes + col
    reverse = np.searchsorted(key, col * num_nodes + row)
    # a pair's forward edge is at slot_pair, its reverse at len(pairs) + slot_pair (before sorting)
    slot_edge = np.concatenate([position[slot_pair], position[len(pairs) + slot_pair]])

    def t(a: np.ndarray, dtype: torch.dtype = torch.int64) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

    return TypedEdges(
        crow=t(np.concatenate([[0], np.cumsum(np.bincount(row, minlength=num_nodes))])),
        row=t(row),
        col=t(col),
        reverse=t(reverse),
        slot_edge=t(slot_edge),
        slot_type=t(np.concatenate([slot_type, slot_type])),
        base=t(np.concatenate(base)[order], torch.float32),
        types=[str(x) for x in types],
        num_nodes=num_nodes,
    )


def _csr(crow: Tensor, col: Tensor, values: Tensor, n: int) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=(n, n), check_invariants=False)


class _ValuedSpMM(torch.autograd.Function):
    r"""``A @ X`` for the CSR ``A`` with a fixed pattern and values ``v`` that may need a
    gradient: :math:`\partial L / \partial v_e = g_{r_e}^\top x_{c_e}` and
    :math:`\partial L / \partial X = A^\top G`, where :math:`A^\top` has the same pattern
    and values ``v[reverse]`` (the pattern is symmetric)."""

    @staticmethod
    def forward(ctx, values, x, crow, row, col, reverse):
        ctx.save_for_backward(values, x, crow, row, col, reverse)
        return torch.sparse.mm(_csr(crow, col, values, x.shape[0]), x)

    @staticmethod
    def backward(ctx, grad):
        values, x, crow, _, col, reverse = ctx.saved_tensors
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:
            # (G X^T) at the pattern only; 3-4x faster than gathering G[row] and X[col]
            pattern = _csr(crow, col, values, x.shape[0])
            grad_values = torch.sparse.sampled_addmm(pattern, grad, x.t(), beta=0.0).values()
        if ctx.needs_input_grad[1]:
            a_t = _csr(crow, col, values.index_select(0, reverse), x.shape[0])
            grad_x = torch.sparse.mm(a_t, grad)
        return grad_values, grad_x, None, None, None, None


def _inverse_softplus(w: Tensor) -> Tensor:
    """:math:`\\log(e^w - 1)`, so that ``softplus`` of the result is ``w``."""
    return w + torch.log(-torch.expm1(-w))


class MBLightGCN(GraphRecommender):
    r"""LightGCN over a user–item graph whose edges are weighted by behaviour type.

    .. math::
        A_{ui} = A_{iu} = \sum_{b \in \mathcal{B}_{ui}} w_b, \qquad
        \hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2},\ D_{vv} = \sum_j A_{vj},

    .. math::
        \mathbf{E}^{(k+1)} = \hat{\mathbf{A}} \mathbf{E}^{(k)}, \qquad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)}, \qquad
        \hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i,

    where :math:`\mathcal{B}_{ui}` are the behaviour types (view, cart, fav,
    buy, ...) of user :math:`u`'s TRAIN interactions with item :math:`i`
    and :math:`w_b > 0` the weight of type :math:`b`: learned as
    :math:`w_b = \operatorname{softplus}(\theta_b)` (``learn_weights``,
    :math:`\theta_b` initialised so that :math:`w_b` starts at
    ``behavior_weights[b]``, default 1) or fixed to ``behavior_weights``.
    :math:`\hat{\mathbf{A}}` is re-normalised from the current weights at
    every forward (edge values only; the sparsity pattern is fixed). With
    category nodes in the graph, item–category edges have weight 1.

    The propagation is LightGCN's (He et al., "LightGCN: Simplifying and
    Powering Graph Convolution Network for Recommendation", SIGIR 2020); the
    learned importance weight per behaviour follows MBGCN (Jin et al.,
    "Multi-behavior Recommendation with Graph Convolutional Networks", SIGIR
    2020). Deviations from MBGCN, which this is not: weights are global (MBGCN
    mixes them with each user's behaviour counts), there is no per-behaviour
    item–item propagation and no feature transform. Behaviours enter only
    through the graph: the training pairs and the ranking are the dataset's
    (every TRAIN interaction is a positive; evaluate one behaviour with
    ``target_behavior``).

    A graph without behaviour column (or with one type in TRAIN) has one
    type; its weight cancels in :math:`\hat{\mathbf{A}}`, so the model is
    LightGCN and nothing is learned for it (unless category edges give the
    weight a meaning).

    Args:
        edges: the typed edge structure (:func:`typed_edges`).
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K`.
        alpha: layer-combination weights (length ``K + 1``); None gives
            :math:`1/(K+1)` each.
        init_std: standard deviation of the normal initialisation.
        combine: layer combination (as in LightGCN).
        behavior_weights: type → initial (learned) or fixed weight; None:
            1 for every type. Must name every type of the graph.
        learn_weights: learn :math:`w_b` (else fixed).
        edge_dropout: in training, each non-zero of :math:`\hat{\mathbf{A}}`
            is dropped with this probability, survivors scaled by
            :math:`1/(1-p)`.
        message_dropout: in training, dropout on every layer's output.
    """

    crow: Tensor
    row: Tensor
    col: Tensor
    reverse: Tensor
    slot_edge: Tensor
    slot_type: Tensor
    base: Tensor
    fixed_weight: Tensor

    def __init__(
        self,
        edges: TypedEdges,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: Sequence[float] | None = None,
        init_std: float = 0.1,
        combine: str = "mean",
        behavior_weights: Mapping[str, float] | None = None,
        learn_weights: bool = True,
        edge_dropout: float = 0.0,
        message_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers, minimum=0)
        if not isinstance(learn_weights, bool):
            raise ValueError(f"learn_weights must be true or false, got {learn_weights!r}")
        self.edge_dropout = check_probability("edge_dropout", edge_dropout)
        self.message_dropout = check_probability("message_dropout", message_dropout)
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.init_std = init_std
        self.types = list(edges.types)
        self.num_nodes = edges.num_nodes
        for name in ("crow", "row", "col", "reverse", "slot_edge", "slot_type", "base"):
            self.register_buffer(name, getattr(edges, name), persistent=False)
        initial = torch.tensor(_initial_weights(self.types, behavior_weights))
        has_categories = bool((edges.base > 0).any())
        # one type without category edges: w cancels in D^-1/2 A D^-1/2, nothing to learn
        self.learned = learn_weights and (len(self.types) > 1 or has_categories)
        if self.learned:
            self.weight_logit = nn.Parameter(_inverse_softplus(initial))
        else:
            self.register_buffer("fixed_weight", initial)
        self.embedding = nn.Embedding(edges.num_nodes, embedding_dim)
        if alpha is not None and combine == "mean":
            combine = "weighted"
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> MBLightGCN:
        """Build over a training graph, typing its user–item edges by ``graph.log``'s
        behaviour column (one type when the log has none)."""
        glog = graph.log
        if glog is not None and BEHAVIOR in glog.codes:
            users, items = glog.users.cpu().numpy(), glog.items.cpu().numpy()
            codes, types = glog.codes[BEHAVIOR].cpu().numpy(), glog.names[BEHAVIOR]
            used = np.unique(codes)
            codes, types = np.searchsorted(used, codes), [types[c] for c in used]
        else:
            ui = graph.hetero[INTERACTS].edge_index.cpu().numpy()
            users, items = ui[0], ui[1]
            codes, types = np.zeros(len(users), dtype=np.int64), [ONE_TYPE]
        if len(types) == 1:
            log.info(
                "mblightgcn: the training interactions have one behaviour type (%s): "
                "every user–item edge has the same weight",
                "no behavior column" if types == [ONE_TYPE] else types[0],
            )
            if types == [ONE_TYPE] and hparams.get("behavior_weights"):
                log.info("mblightgcn: behavior_weights ignored (no behavior column)")
                hparams = {**hparams, "behavior_weights": None}
        ic = graph.item_category_index().cpu().numpy() if graph.include_categories else None
        edges = typed_edges(
            users, items, codes, types, graph.num_users, graph.num_items, ic, graph.num_categories
        )
        return cls(edges, graph.num_users, graph.num_items, **hparams)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        self.combine.reset_parameters()

    def type_weights(self) -> Tensor:
        """``[T]`` current weight :math:`w_b` of each type (order of ``types``)."""
        return F.softplus(self.weight_logit) if self.learned else self.fixed_weight

    def normalized_values(self) -> Tensor:
        r"""``[E]`` values of :math:`\hat{\mathbf{A}}` in CSR order, from the current weights."""
        w = self.type_weights()
        a = self.base.index_add(0, self.slot_edge, w.index_select(0, self.slot_type))
        deg = torch.zeros(self.num_nodes, dtype=a.dtype, device=a.device)
        deg = deg.index_add(0, self.row, a)
        inv_sqrt = deg.clamp_min(torch.finfo(a.dtype).tiny).rsqrt()
        return a * inv_sqrt.index_select(0, self.row) * inv_sqrt.index_select(0, self.col)

    def normalized_adjacency(self) -> Tensor:
        r""":math:`\hat{\mathbf{A}}` ``[N, N]`` as a sparse CSR tensor (no gradient)."""
        return _csr(self.crow, self.col, self.normalized_values().detach(), self.num_nodes)

    def layers(self) -> list[Tensor]:
        r"""The ``K + 1`` layer outputs :math:`\mathbf{E}^{(0)}, \dots, \mathbf{E}^{(K)}`."""
        values = self.normalized_values()
        if self.training and self.edge_dropout > 0:
            values = F.dropout(values, self.edge_dropout, training=True)
        x = self.embedding.weight
        out = [x]
        for _ in range(self.num_layers):
            x = _ValuedSpMM.apply(values, x, self.crow, self.row, self.col, self.reverse)
            if self.training and self.message_dropout > 0:
                x = F.dropout(x, self.message_dropout, training=True)
            out.append(x)
        return out

    def extra_repr_items(self) -> list[str]:
        weights = self.type_weights().tolist()
        w = ", ".join(f"{t}={v:.3g}" for t, v in zip(self.types, weights, strict=True))
        return [f"weights={'learned' if self.learned else 'fixed'}({w})"]


def _initial_weights(types: Sequence[str], given: Mapping[str, float] | None) -> list[float]:
    if given is None:
        return [1.0] * len(types)
    given = {str(k): v for k, v in dict(given).items()}
    missing = [t for t in types if t not in given]
    if missing:
        raise ValueError(
            f"behavior_weights has no weight for behaviour(s) {', '.join(missing)} of the "
            f"training data (types: {', '.join(types)})"
        )
    for name, value in given.items():
        ok = not isinstance(value, bool) and isinstance(value, int | float)
        if not ok or not math.isfinite(value) or value <= 0:
            raise ValueError(f"behavior_weights.{name} must be a positive number, got {value!r}")
    unused = sorted(set(given) - set(types))
    if unused:
        log.info("behavior_weights: no training interaction has type %s", ", ".join(unused))
    return [float(given[t]) for t in types]
