r"""DGCN (Zheng et al., WWW 2021): diversified recommendation with a GCN."""

from __future__ import annotations

import warnings
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnrec.errors import ConfigError
from gnnrec.graph.build import INTERACTS, RecGraph, adjacency
from gnnrec.models.base import GraphRecommender, check_int, require_user_item_graph
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.grl import GradientReversal
from gnnrec.models.layers.propagate import propagate_layers, transpose_csr


def rebalancing_weights(
    users: Tensor,
    items: Tensor,
    item_categories: Tensor,
    num_items: int,
    num_categories: int,
    alpha: float = 1.0,
) -> Tensor:
    r"""DGCN's neighbour weight of every (user, item) interaction.

    .. math::
        w_{ui} = \frac{1}{|\mathcal{C}_i|} \sum_{c \in \mathcal{C}_i} n_u(c)^{-\alpha},
        \qquad n_u(c) = |\{j \in \mathcal{N}_u : c \in \mathcal{C}_j\}|,

    :math:`n_u(c)` being how many of the user's items carry category
    :math:`c`: items of the categories the user rarely consumes weigh more.
    An item without a category counts as being in one extra "no category"
    category. With one category per item this is the paper's
    :math:`1 / n_u(c_i)^{\alpha}`.

    Args:
        users: ``[E]`` user of each interaction (each (user, item) once).
        items: ``[E]`` item of each interaction.
        item_categories: ``[2, nnz]`` (item, category) pairs.
        num_items: number of items.
        num_categories: number of categories.
        alpha: exponent :math:`\alpha \ge 0` (0: all weights 1).

    Returns:
        ``[E]`` float32 weights.
    """
    none = num_categories  # the extra category of uncategorised items
    device = users.device
    labelled, cats = item_categories[0], item_categories[1]
    count = torch.bincount(labelled, minlength=num_items)
    bare = (count == 0).nonzero().squeeze(1)
    all_items = torch.cat([labelled, bare])
    all_cats = torch.cat([cats, torch.full_like(bare, none)])
    order = torch.argsort(all_items * (none + 1) + all_cats)
    all_cats = all_cats[order]
    count = count.clamp(min=1)
    indptr = torch.cat([count.new_zeros(1), torch.cumsum(count, 0)])
    # one row per (interaction, category of its item)
    per_edge = count[items]
    edge = torch.repeat_interleave(torch.arange(len(items), device=device), per_edge)
    first = torch.cumsum(per_edge, 0) - per_edge
    offset = torch.arange(len(edge), device=device) - first[edge]
    cat = all_cats[indptr[items][edge] + offset]
    _, inverse, n = torch.unique(
        users[edge] * (none + 1) + cat, return_inverse=True, return_counts=True
    )
    share = n[inverse].float().pow(-alpha)
    total = torch.zeros(len(items), device=device).index_add_(0, edge, share)
    return total / per_edge.float()


def sample_neighbors(groups: Tensor, keys: Tensor, k: int, num_groups: int) -> Tensor:
    """``[E]`` mask of the ``k`` largest ``keys`` in every group (all of a smaller group).

    With keys :math:`\\log(U)/w` (:math:`U \\sim \\mathrm{U}(0, 1)`) this draws
    ``k`` members without replacement, each next one with probability
    proportional to :math:`w` among those left (Efraimidis & Spirakis,
    "Weighted random sampling with a reservoir", IPL 2006).

    Args:
        groups: ``[E]`` group of each element.
        keys: ``[E]`` sampling keys, larger first.
        k: members kept per group.
        num_groups: number of groups.
    """
    order = torch.argsort(keys, descending=True)
    order = order[torch.argsort(groups[order], stable=True)]
    size = torch.bincount(groups, minlength=num_groups)
    start = torch.cumsum(size, 0) - size
    rank = torch.arange(len(keys), device=keys.device) - start[groups[order]]
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep[order[rank < k]] = True
    return keep


class DGCN(GraphRecommender):
    r"""DGCN: LightGCN-style propagation over a rebalanced neighbour sample, trained
    against a category classifier.

    .. math::
        \mathbf{e}^{(k+1)}_u = \frac{1}{|\mathcal{S}_u|} \sum_{i \in \mathcal{S}_u}
            \mathbf{e}^{(k)}_i, \qquad
        \mathbf{e}^{(k+1)}_i = \frac{1}{|\mathcal{S}_i|} \sum_{u \in \mathcal{S}_i}
            \mathbf{e}^{(k)}_u, \qquad
        \mathbf{e} = \frac{1}{K+1} \sum_{k=0}^{K} \mathbf{e}^{(k)},

    where :math:`\mathcal{S}_u` holds :math:`\min(|\mathcal{N}_u|, S)` of the
    user's items drawn without replacement with probability proportional to
    :func:`rebalancing_weights` :math:`w_{ui} \propto n_u(c_i)^{-\alpha}`
    (*rebalanced neighbour discovery*: categories the user rarely consumes
    are boosted), and :math:`\mathcal{S}_i` holds :math:`\min(|\mathcal{N}_i|,
    S)` of the item's users drawn uniformly. Scores are
    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`. *Adversarial
    category learning* adds, through :meth:`auxiliary_losses`,

    .. math::
        \mathcal{L}_{adv} = \lambda_{adv}\,
            \ell\big(\mathbf{W} R_\gamma(\mathbf{e}_j) + \mathbf{b},\; \mathbf{y}_j\big)

    over the batch's positive and negative items :math:`j`, with
    :math:`R_\gamma` the gradient reversal layer
    (:mod:`gnnrec.models.layers.grl`), :math:`\mathbf{y}_j` the item's
    categories and :math:`\ell` the cross-entropy (one category per item) or
    the binary cross-entropy summed over categories (multi-label data): the
    classifier learns to predict the category while the embeddings learn to
    hide it. The third component, *category-boosted negative sampling*, is a
    sampler usable with any model: ``sampler=category_boosted``
    (:class:`~gnnrec.sampling.CategoryBoostedSampler`).

    Zheng et al., "DGCN: Diversified Recommendation with Graph Convolutional
    Networks", WWW 2021; reference code tsinghua-fib-lab/DGCN (Taobao
    settings: :math:`S = 20`, :math:`\alpha = 8`, :math:`\lambda_{adv} =
    0.01`, :math:`\gamma = 1`, one layer).

    The sample is drawn in :meth:`start_epoch`, once per epoch, from the
    run's generator (the reference samples per batch); it is kept in the
    state dict, so early stopping restores the sample that goes with the
    best weights, and evaluation uses it as the reference evaluates on a
    sampled graph. Until the first :meth:`start_epoch` the model uses a
    sample drawn at construction from a generator seeded with 0.

    Deviations: the reference's layer is GraphSAGE-like (mean over sampled
    neighbours and the node itself, then a linear map and tanh, last layer
    only); here layers are linear and averaged as in LightGCN, without
    self-loops. In the reference the inverse-frequency weight sits on the
    user → item edges and DGL's in-neighbour sampling applies it to the
    users an item samples; the paper (and this class) applies it to the
    items a user samples. Items with several categories average the weights
    of their categories (the reference has one category per item). Losses
    are gnnrec's (BPR by default; the reference uses pointwise BCE).

    Switches:

    * ``rebalance``: False samples users' items uniformly as well (an
      ablation of the neighbour rebalancing).
    * ``num_neighbors``: None propagates over full neighbourhoods with
      LightGCN's :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`
      (needs ``rebalance=False``).
    * ``adversarial``: False drops the classifier and the ``adv`` term.

    Args:
        interactions: ``[2, E]`` (user, item) training pairs, each once.
        item_categories: ``[2, nnz]`` (item, category) pairs.
        num_users: number of users.
        num_items: number of items.
        num_categories: number of categories.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K`.
        num_neighbors: sample size :math:`S` per node (None: full graph).
        rebalance: sample users' items by :func:`rebalancing_weights`.
        rebalance_alpha: exponent :math:`\alpha \ge 0` of the weights.
        adversarial: add the adversarial category classifier.
        adv_weight: :math:`\lambda_{adv} \ge 0`.
        adv_gamma: :math:`\gamma \ge 0`, the scale of the reversed gradient.
        init_std: standard deviation of the normal initialisation.
    """

    user_side: Tensor
    item_side: Tensor
    user_side_weight: Tensor
    adjacency: Tensor  # registered as None only until __init__'s start_epoch builds it
    adjacency_t: Tensor | None
    row_ptr: Tensor
    row_values: Tensor
    sampled_columns: Tensor
    item_labels: Tensor

    def __init__(
        self,
        interactions: Tensor,
        item_categories: Tensor,
        num_users: int,
        num_items: int,
        num_categories: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        num_neighbors: int | None = 20,
        rebalance: bool = True,
        rebalance_alpha: float = 1.0,
        adversarial: bool = True,
        adv_weight: float = 0.01,
        adv_gamma: float = 1.0,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers, minimum=0)
        for name, flag in (("rebalance", rebalance), ("adversarial", adversarial)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be true or false, got {flag!r}")
        if num_neighbors is not None:
            check_int("num_neighbors", num_neighbors)
        elif rebalance:
            raise ValueError(
                "rebalance=true samples neighbours: set num_neighbors (e.g. 20), "
                "or rebalance=false for the full graph"
            )
        self.rebalance_alpha = _non_negative("rebalance_alpha", rebalance_alpha)
        self.adv_weight = _non_negative("adv_weight", adv_weight)
        if (rebalance or adversarial) and item_categories.shape[1] == 0:
            raise ConfigError(
                "model=dgcn with rebalance or adversarial needs item categories, but the "
                "dataset has none; set model.rebalance=false model.adversarial=false"
            )
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.num_neighbors = num_neighbors
        self.rebalance, self.adversarial = rebalance, adversarial
        self.init_std = init_std
        num_nodes = num_users + num_items
        self.embedding = nn.Embedding(num_nodes, embedding_dim)
        self.combine = layer_combination("mean", num_layers, embedding_dim)

        users, items = interactions[0].long(), interactions[1].long()
        by_user = torch.argsort(users * num_items + items)
        by_item = torch.argsort(items * num_users + users)
        self.register_buffer("user_side", torch.stack([users, items])[:, by_user], persistent=False)
        item_side = torch.stack([items, users])[:, by_item]
        self.register_buffer("item_side", item_side, persistent=False)
        if rebalance:
            u, i = self.user_side
            weight = rebalancing_weights(
                u, i, item_categories, num_items, num_categories, self.rebalance_alpha
            )
        else:
            weight = torch.ones(interactions.shape[1], device=interactions.device)
        self.register_buffer("user_side_weight", weight, persistent=False)

        if num_neighbors is None:
            both = torch.cat([interactions, interactions.flip(0)], dim=1)
            both[1, : interactions.shape[1]] += num_users
            both[0, interactions.shape[1] :] += num_users
            self.register_buffer("adjacency", adjacency(both, num_nodes), persistent=False)
            self.register_buffer("adjacency_t", None, persistent=False)
        else:
            degree = torch.cat(
                [
                    torch.bincount(users, minlength=num_users),
                    torch.bincount(items, minlength=num_items),
                ]
            )
            size = degree.clamp(max=num_neighbors)
            self.register_buffer(
                "row_ptr", torch.cat([size.new_zeros(1), torch.cumsum(size, 0)]), persistent=False
            )
            values = torch.repeat_interleave(1.0 / size.clamp(min=1).float(), size)
            self.register_buffer("row_values", values, persistent=False)
            # the sampled neighbours, in CSR order; persistent so that a restored
            # checkpoint comes with the sample it was trained on
            self.register_buffer("sampled_columns", torch.zeros_like(values, dtype=torch.long))
            self.register_buffer("adjacency", None, persistent=False)
            self.register_buffer("adjacency_t", None, persistent=False)
            self.register_load_state_dict_post_hook(self._rebuild_after_load)
            self.start_epoch(torch.Generator(device=interactions.device).manual_seed(0))

        if adversarial:
            labels = torch.zeros(num_items, num_categories, device=interactions.device)
            labels[item_categories[0], item_categories[1]] = 1.0
            self.multi_label = bool((labels.sum(1) > 1).any())
            self.register_buffer("item_labels", labels, persistent=False)
            self.reversal = GradientReversal(adv_gamma)
            self.classifier = nn.Linear(self.combine.out_dim(embedding_dim), num_categories)
        self._item_emb: Tensor | None = None
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> DGCN:
        """Build over the training graph's user–item edges and item categories."""
        require_user_item_graph(graph, "dgcn")
        return cls(
            graph.hetero[INTERACTS].edge_index,
            graph.item_category_index(),
            graph.num_users,
            graph.num_items,
            graph.num_categories,
            **hparams,
        )

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        self.combine.reset_parameters()
        if self.adversarial:
            self.classifier.reset_parameters()

    def start_epoch(self, generator: torch.Generator) -> None:
        """Draw this epoch's neighbour sample (nothing with full neighbourhoods)."""
        if self.num_neighbors is None:
            return
        k = self.num_neighbors
        u, i = self.user_side
        # Efraimidis-Spirakis keys log(U)/w; U > 0 keeps them finite
        noise = torch.rand(len(u), device=u.device, generator=generator).clamp_(min=1e-12)
        user_keep = sample_neighbors(u, noise.log() / self.user_side_weight, k, self.num_users)
        it, iu = self.item_side
        noise = torch.rand(len(it), device=it.device, generator=generator)
        item_keep = sample_neighbors(it, noise, k, self.num_items)
        self.sampled_columns = torch.cat([i[user_keep] + self.num_users, iu[item_keep]])
        self._build_adjacency()

    def _build_adjacency(self) -> None:
        """The row-normalised sampled adjacency and its transpose (for the backward)."""
        if self.num_neighbors is None:
            return
        n = self.num_users + self.num_items
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            a = torch.sparse_csr_tensor(
                self.row_ptr,
                self.sampled_columns,
                self.row_values,
                size=(n, n),
                check_invariants=True,
            )
        self.adjacency, self.adjacency_t = a, transpose_csr(a)

    def _rebuild_after_load(self, module: nn.Module, incompatible_keys: object) -> None:
        self._build_adjacency()

    def layers(self) -> list[Tensor]:
        """The ``K + 1`` layer outputs ``[N, d]`` over the current sample."""
        return propagate_layers(
            self.adjacency, self.embedding.weight, self.num_layers, self.adjacency_t
        )

    def forward(self) -> tuple[Tensor, Tensor]:
        user_emb, item_emb = super().forward()
        # kept for the adversarial term of the same step
        self._item_emb = item_emb if self.training else None
        return user_emb, item_emb

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        """``{"adv": adv_weight * classification loss}`` of the batch's positive and
        negative items, through the gradient reversal layer; none without
        ``adversarial``."""
        if not self.adversarial:
            return {}
        if self._item_emb is None:
            raise RuntimeError("auxiliary_losses needs a training-mode forward() first")
        items = torch.cat([pos, neg.reshape(-1)])
        logits = self.classifier(self.reversal(self._item_emb.index_select(0, items)))
        labels = self.item_labels.index_select(0, items)
        if self.multi_label:
            loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
            return {"adv": self.adv_weight * loss.sum(1).mean()}
        labelled = labels.sum(1) > 0
        if not labelled.any():
            return {"adv": logits.sum() * 0.0}
        loss = F.cross_entropy(logits[labelled], labels[labelled].argmax(1))
        return {"adv": self.adv_weight * loss}

    def extra_repr_items(self) -> list[str]:
        return [
            f"num_neighbors={self.num_neighbors}",
            f"rebalance={self.rebalance}",
            f"adversarial={self.adversarial}",
        ]


def _non_negative(name: str, value: object) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or cast(float, value) < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(cast(float, value))
