"""CascadeGCN: behaviours in funnel order, each stage refining the previous one (CRGCN)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnrec.errors import ConfigError
from gnnrec.graph.build import RecGraph, to_torch_csr
from gnnrec.models.base import GraphRecommender, check_int, require_user_item_graph, split_nodes
from gnnrec.models.crossdomain import domain_adjacencies
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.propagate import spmm


class CascadeGCN(GraphRecommender):
    r"""Cascading residual GCN over behaviours in funnel order (Yan et al.,
    "Cascading Residual Graph Convolutional Network for Multi-Behavior
    Recommendation", TOIS 2023: CRGCN).

    One embedding table :math:`\mathbf{H}_0` over users and items. Behaviour
    :math:`b = 1..B` of the cascade (e.g. follow → cart → buy, the target
    last) propagates the previous stage over its own normalised user–item
    graph :math:`\hat{\mathbf{A}}_b` (the training interactions of that
    behaviour) and adds the result, L2-normalised per row, as a residual:

    .. math::
        \mathbf{X}_b = \operatorname{norm}\big(\hat{\mathbf{A}}_b^{L}\,
            \mathbf{H}_{b-1}\big), \qquad
        \mathbf{H}_b = \mathbf{H}_{b-1} + \mathbf{X}_b, \qquad
        \hat y_{ui} = \mathbf{h}_{B,u}^\top \mathbf{h}_{B,i}.

    What a user did earlier in the funnel thus shapes the representation the
    next behaviour refines, and the target behaviour's stage scores.

    Training is multi-task, one BPR term per behaviour with that behaviour's
    stage: the trainer's loss scores the batch's target-behaviour pairs with
    :math:`\mathbf{H}_B` (:meth:`pair_weights` weighs the other pairs 0), and
    :meth:`auxiliary_losses` adds, per earlier behaviour :math:`b`, BPR on the
    batch's pairs of :math:`b` scored with :math:`\mathbf{H}_b`
    (``train/bpr_<b>``). Pairs of a behaviour weigh ``pairs / pairs of b`` so
    that each term is a mean over its own pairs.

    Deviations from CRGCN's code: the batch samples pairs over all training
    interactions (CRGCN draws one triple per user per behaviour each epoch);
    negatives come from the run's sampler (CRGCN's are items the user has no
    interaction with in any behaviour); no per-layer bias vector; L2 as the
    trainer's ``reg_weight`` on the batch's rows. MB-CGCN (Cheng et al., WWW
    2023) is the same cascade with LightGCN blocks, linear maps between
    stages and the stages' sum as the final embedding.

    Args:
        adjacencies: one ``[N, N]`` normalised adjacency per behaviour, in
            cascade order (the target last).
        behaviours: the behaviours' names, same order.
        pair_keys: per behaviour, the sorted ``user * num_items + item`` keys
            of its training pairs.
        num_users, num_items: sizes.
        embedding_dim: :math:`d`.
        num_layers: :math:`L`, propagation layers per behaviour.
        init_std: standard deviation of the normal initialisation.
        every_pair: the behaviours cover every training pair (one behaviour
            and nothing left out): the loss then needs no pair weights.
        num_pairs: training pairs the trainer samples from (None: the sum of
            the behaviours' pairs); a behaviour's pairs weigh ``num_pairs /``
            its pairs.
    """

    def __init__(
        self,
        adjacencies: Sequence[sp.spmatrix],
        behaviours: Sequence[str],
        pair_keys: Sequence[np.ndarray],
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 1,
        init_std: float = 0.1,
        every_pair: bool = False,
        num_pairs: int | None = None,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers)
        if not adjacencies or not len(adjacencies) == len(behaviours) == len(pair_keys):
            raise ValueError("expected one adjacency, name and key array per behaviour")
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.behaviours = [str(b) for b in behaviours]
        self.init_std = init_std
        self.every_pair = every_pair
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)
        self.combine = layer_combination("last", 0, embedding_dim)
        for b, a in enumerate(adjacencies):
            self.register_buffer(f"adjacency_{b}", to_torch_csr(a), persistent=False)
        total = sum(len(k) for k in pair_keys) if num_pairs is None else num_pairs
        for b, keys in enumerate(pair_keys):
            self.register_buffer(
                f"keys_{b}", torch.from_numpy(np.sort(keys).astype(np.int64)), persistent=False
            )
            self.register_buffer(
                f"scale_{b}", torch.tensor(total / max(1, len(keys))), persistent=False
            )
        self._stages: list[Tensor] = []
        self.reset_parameters()

    @classmethod
    def from_graph(
        cls, graph: RecGraph, column: str = "behavior", order: Sequence[str] | None = None, **hp
    ) -> CascadeGCN:
        """Build the cascade from the training log's ``column`` codes.

        Without a behaviour column every interaction is one behaviour (one
        stage). With several, ``order`` names them in funnel order, target
        last; behaviours left out of ``order`` are not used.

        Raises:
            ConfigError: several behaviours and no ``order``, a name in
                ``order`` that the training log does not hold, or a graph
                with category nodes.
        """
        require_user_item_graph(graph, "cascade")
        log = graph.log
        if log is None:
            raise ConfigError("model=cascade needs the graph's training log (RecGraph.log)")
        users = log.users.cpu().numpy()
        items = log.items.cpu().numpy()
        if column not in log.codes:
            codes, names = np.zeros(len(users), dtype=np.int64), ["all"]
        else:
            codes, names = log.codes[column].cpu().numpy(), list(log.names[column])
        if order is None:
            if len(names) > 1:
                raise ConfigError(
                    f"model=cascade needs model.order, the behaviours in funnel order with the "
                    f"target last, e.g. [{', '.join(names)}] (the training log has {names})"
                )
            order = names
        unknown = [b for b in order if b not in names]
        if unknown or not order:
            raise ConfigError(
                f"model.order {list(order)} names behaviours the training log does not hold "
                f"({', '.join(map(repr, unknown)) or 'none given'}); it has {names}"
            )
        chosen = [names.index(b) for b in order]
        remap = np.full(len(names), -1, dtype=np.int64)
        remap[chosen] = np.arange(len(chosen))
        stage = remap[codes]
        keep = stage >= 0
        adjacencies = domain_adjacencies(
            users[keep], items[keep], stage[keep], len(chosen), graph.num_users, graph.num_items
        )
        keys = [
            np.unique(users[stage == s] * np.int64(graph.num_items) + items[stage == s])
            for s in range(len(chosen))
        ]
        every_pair = len(chosen) == 1 and bool(keep.all())
        return cls(
            adjacencies,
            list(order),
            keys,
            graph.num_users,
            graph.num_items,
            every_pair=every_pair,
            num_pairs=len(users),
            **hp,
        )

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)

    def stages(self) -> list[Tensor]:
        """``[H_1, ..., H_B]``, each ``[N, d]``."""
        h = self.embedding.weight
        out = []
        for b in range(len(self.behaviours)):
            adjacency = getattr(self, f"adjacency_{b}")
            x = h
            for _ in range(self.num_layers):
                x = spmm(adjacency, x)
            h = h + F.normalize(x, dim=1)
            out.append(h)
        return out

    def layers(self) -> list[Tensor]:
        return [self.stages()[-1]]

    def forward(self) -> tuple[Tensor, Tensor]:
        stages = self.stages()
        self._stages = stages if self.training else []
        return split_nodes(stages[-1], self.num_users, self.num_items)

    def _is_pair_of(self, b: int, users: Tensor, items: Tensor) -> Tensor:
        keys = getattr(self, f"keys_{b}")
        query = users * self.num_items + items
        pos = torch.searchsorted(keys, query).clamp(max=max(0, len(keys) - 1))
        return (keys[pos] == query) if len(keys) else torch.zeros_like(query, dtype=torch.bool)

    def pair_weights(self, users: Tensor, pos: Tensor) -> Tensor | None:
        if self.every_pair:
            return None
        target = len(self.behaviours) - 1
        return self._is_pair_of(target, users, pos).float() * getattr(self, f"scale_{target}")

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        if not self._stages or neg.shape[1] == 0:
            return out
        for b, name in enumerate(self.behaviours[:-1]):
            h = self._stages[b]
            u = h.index_select(0, users)
            p = h.index_select(0, pos + self.num_users)
            n = h.index_select(0, neg[:, 0] + self.num_users)
            per_pair = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1))
            weight = self._is_pair_of(b, users, pos).float() * getattr(self, f"scale_{b}")
            out[f"bpr_{name}"] = (weight * per_pair).mean()
        return out

    def extra_repr_items(self) -> list[str]:
        return [f"cascade={'>'.join(self.behaviours)}"]
