"""DGRec (Yang et al., WSDM 2023): diversified neighbours, layer attention, balanced loss."""

from __future__ import annotations

import math
import warnings
from typing import cast

import torch
from torch import Tensor, nn

from gnnrec.graph.build import INTERACTS, RecGraph
from gnnrec.models.base import GraphRecommender, check_int, require_user_item_graph
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.propagate import spmm, transpose_csr

SIMILARITIES = ("embedding", "category")
CLASS_COUNTS = ("items", "interactions")

SELECTION_BLOCK = 1 << 22
"""Most entries of one ``[B, n, n]`` similarity block (users of equal degree
are processed in chunks of at most this size)."""


class DGRec(GraphRecommender):
    r"""DGRec: LightGCN-style propagation in which every user aggregates a diverse
    subset of its items, attention over layers, and category-balanced loss weights.

    Layer :math:`l \to l+1` over the user–item training graph (degrees
    :math:`d` counted on the whole graph):

    .. math::
        \mathbf{h}_i^{(l+1)} = \sum_{u \in \mathcal{N}(i)}
            \frac{\mathbf{h}_u^{(l)}}{\sqrt{d_i d_u}}, \qquad
        \mathbf{h}_u^{(l+1)} = \sum_{i \in \mathcal{S}_u^{(l)}}
            \frac{\mathbf{h}_i^{(l)}}{\sqrt{d_u d_i}},

    where :math:`\mathcal{S}_u^{(l)} = \mathcal{N}(u)` when :math:`d_u \le k`
    and otherwise the :math:`k` items picked greedily (one at a time, largest
    marginal gain first) for the facility-location function

    .. math::
        f_u(\mathcal{S}) = \sum_{j \in \mathcal{N}(u)} \max_{i \in \mathcal{S}} s(i, j),
        \qquad
        s(i, j) = \exp\Big(-\frac{\lVert \mathbf{m}_i - \mathbf{m}_j \rVert}
            {\sigma\, \overline{D}_u}\Big), \quad
        \mathbf{m}_i = d_i^{-1/2}\mathbf{h}_i^{(l)},

    with :math:`\overline{D}_u` the mean pairwise distance among the user's
    messages. :math:`f_u` is monotone submodular, so the greedy choice is
    within :math:`1 - 1/e` of the best :math:`k`-subset: redundant items
    (close to one already picked) add little, items unlike the rest add
    much. The representations are combined by layer attention and scored by
    dot product,

    .. math::
        \mathbf{h}_v = \sum_{l=0}^{L} \beta_{v,l} \mathbf{h}_v^{(l)}, \quad
        \beta_{v,l} = \operatorname{softmax}_l\big(\mathbf{q}^\top
            \tanh(\mathbf{W}\mathbf{h}_v^{(l)} + \mathbf{b})\big), \qquad
        \hat y_{ui} = \mathbf{h}_u^\top \mathbf{h}_i,

    and each training pair :math:`(u, i)` weighs in the loss by the class-balanced
    weight (Cui et al., CVPR 2019) of the positive's categories :math:`C(i)`,

    .. math::
        w_{ui} \propto \frac{1}{|C(i)|}\sum_{c \in C(i)} \frac{1 - \beta}{1 - \beta^{n_c}},

    normalised to average 1 over the training pairs (:meth:`pair_weights`).

    Yang, Wang, Tao, Sun, Liu, Yu, Wang, "DGRec: Graph Neural Network for
    Recommendation with Diversified Embedding Generation", WSDM 2023;
    reference code github.com/YangLiangwei/DGRec (``models/layers.py``,
    ``models/models.py``, ``utils/dataloader.py``), whose defaults are kept:
    one layer, :math:`k = 20`, :math:`\sigma = 1`, :math:`\beta = 0.9`,
    :math:`n_c` = number of items in category :math:`c`.

    Switches (each off gives the simpler model):

    * ``submodular``: off, every user aggregates all its items (LightGCN's
      propagation). ``similarity="category"`` replaces :math:`s` by the
      Jaccard overlap of the two items' category sets (1 on the diagonal),
      making :math:`f_u` a category coverage of the user's items.
    * ``layer_attention``: off, :math:`\beta_{v,l} = 1/(L+1)` (LightGCN's mean).
    * ``reweight``: off, :meth:`pair_weights` returns None (all pairs weigh 1).

    Deviations from the reference code:

    * The selection is recomputed once per epoch (:meth:`start_epoch`, from
      the embeddings at the start of the epoch, layer by layer; every
      ``reselect_every`` epochs) rather than in every forward; with
      ``similarity="category"`` it never changes and is computed once. It is
      kept in the state dict, so restoring the best weights restores the
      selection made with them.
    * Layer attention is :class:`~gnnrec.models.layers.combine.LayerAttention`
      (:math:`\tanh` and a bias; the reference scores
      :math:`\mathbf{a}^\top\mathbf{W}^\top\mathbf{h}^{(l)}` without either).
      Both share one attention between users and items.
    * Loss weights average 1 over the training pairs (reference: over
      categories); a multi-category item takes the mean weight of its
      categories and items without a category form a class of their own
      (the reference has exactly one category per item).
      ``class_count="interactions"`` counts :math:`n_c` as training
      interactions with the category's items instead of catalogue items.
    * Greedy ties go to the lowest item id and no item is picked twice (the
      reference may re-pick an item once every gain is 0).
    * Embeddings start from :math:`\mathcal{N}(0, 0.1^2)` (reference:
      :math:`\mathcal{N}(0, 1)`); the loss, negatives and optimiser are the
      trainer's (reference: full-batch BPR with 4 uniform negatives).

    Args:
        interactions: ``[2, E]`` distinct training (user, item) pairs.
        item_categories: ``[2, nnz]`` (item, category) pairs.
        num_users: number of users.
        num_items: number of items.
        num_categories: number of categories.
        train_items: ``[P]`` item of every training pair, repeats included
            (the pairs the loss weights are averaged over); None: the
            items of ``interactions``.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`L \ge 1`.
        k: items each user aggregates at most.
        sigma: bandwidth :math:`\sigma` of the embedding similarity.
        similarity: ``"embedding"`` (the paper's) or ``"category"``.
        submodular: select neighbours (else aggregate all of them).
        layer_attention: attention over layers (else their mean).
        reweight: category-balanced pair weights (else none).
        beta: :math:`\beta \in [0, 1)` of the class-balanced weights.
        class_count: what :math:`n_c` counts, ``"items"`` or ``"interactions"``.
        reselect_every: epochs between two selections (embedding similarity).
        init_std: standard deviation of the normal initialisation.
    """

    users: Tensor
    items: Tensor
    user_rowptr: Tensor
    user_deg: Tensor
    item_deg: Tensor
    item_classes: Tensor
    item_weight: Tensor | None
    slot_rowptr: Tensor
    selection: Tensor
    selected: Tensor

    def __init__(
        self,
        interactions: Tensor,
        item_categories: Tensor,
        num_users: int,
        num_items: int,
        num_categories: int,
        train_items: Tensor | None = None,
        embedding_dim: int = 64,
        num_layers: int = 1,
        k: int = 20,
        sigma: float = 1.0,
        similarity: str = "embedding",
        submodular: bool = True,
        layer_attention: bool = True,
        reweight: bool = True,
        beta: float = 0.9,
        class_count: str = "items",
        reselect_every: int = 1,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers)
        check_int("k", k)
        self.reselect_every = check_int("reselect_every", reselect_every)
        for name, value in (
            ("submodular", submodular),
            ("layer_attention", layer_attention),
            ("reweight", reweight),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
        if isinstance(sigma, bool) or not isinstance(sigma, int | float) or sigma <= 0:
            raise ValueError(f"sigma must be a number > 0, got {sigma!r}")
        if similarity not in SIMILARITIES:
            raise ValueError(
                f"similarity must be one of {', '.join(SIMILARITIES)}; got {similarity!r}"
            )
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta < 1:
            raise ValueError(f"beta must be a number in [0, 1), got {beta!r}")
        if class_count not in CLASS_COUNTS:
            raise ValueError(
                f"class_count must be one of {', '.join(CLASS_COUNTS)}; got {class_count!r}"
            )
        self.num_users, self.num_items = num_users, num_items
        self.num_layers, self.k, self.sigma = num_layers, k, float(sigma)
        self.similarity, self.submodular = similarity, submodular
        self.reweight, self.beta, self.class_count = reweight, float(beta), class_count
        self.init_std = init_std

        users, items = _sorted_pairs(interactions, num_items)
        user_deg = torch.bincount(users, minlength=num_users)
        item_deg = torch.bincount(items, minlength=num_items)
        self.register_buffer("users", users, persistent=False)
        self.register_buffer("items", items, persistent=False)
        self.register_buffer("user_rowptr", _rowptr(user_deg), persistent=False)
        self.register_buffer("user_deg", user_deg, persistent=False)
        self.register_buffer("item_deg", item_deg, persistent=False)
        membership = category_membership(item_categories, num_items, num_categories)
        self.register_buffer("item_classes", membership, persistent=False)
        if reweight:
            train_items = items if train_items is None else train_items
            counts = membership.sum(0) if class_count == "items" else membership[train_items].sum(0)
            weights = item_class_weights(membership, counts, self.beta)
            weights = weights / weights[train_items].mean()
            self.register_buffer("item_weight", weights, persistent=False)
        else:
            self.item_weight = None
        # the selected item of every (user, slot); a user has min(d_u, k) slots
        slots = torch.clamp(user_deg, max=k) if submodular else user_deg
        self.register_buffer("slot_rowptr", _rowptr(slots), persistent=False)
        layers = num_layers if submodular and similarity == "embedding" else 1
        selection = torch.zeros(layers, int(slots.sum()), dtype=torch.long, device=items.device)
        self.register_buffer("selection", selection)
        # whether `selection` holds a selection (saved with it: restoring weights restores both)
        self.register_buffer("selected", torch.tensor(False, device=items.device))
        self._epochs = 0
        self._adjacencies: list[tuple[Tensor, Tensor | None]] | None = None
        self.register_load_state_dict_post_hook(_forget_adjacencies)

        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)
        self.combine = layer_combination(
            "attention" if layer_attention else "mean", num_layers, embedding_dim
        )
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> DGRec:
        """Build over a training graph's user–item edges and item categories."""
        require_user_item_graph(graph, "dgrec")
        return cls(
            graph.hetero[INTERACTS].edge_index,
            graph.item_category_index(),
            graph.num_users,
            graph.num_items,
            graph.num_categories,
            train_items=None if graph.log is None else graph.log.items,
            **hparams,
        )

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        self.combine.reset_parameters()
        self.selected.fill_(False)
        self._adjacencies = None
        self._epochs = 0

    def start_epoch(self, generator: torch.Generator) -> None:
        """Re-select every user's neighbours from the current embeddings every
        ``reselect_every`` epochs (no randomness is drawn; with category
        similarity, or without selection, nothing changes after the first)."""
        if self.submodular and self.similarity == "embedding":
            if self._epochs % self.reselect_every == 0:
                self.select_neighbours()
            self._epochs += 1

    @torch.no_grad()
    def select_neighbours(self) -> None:
        """Fill :attr:`selection` (one row per layer) and rebuild the adjacencies.

        Layer :math:`l`'s choice uses the messages of layer :math:`l`, which
        come from propagating through the choices of the layers before it.
        """
        x = self.embedding.weight
        self._adjacencies = []
        for layer in range(self.selection.shape[0]):
            messages = self._messages(x[self.num_users :])
            self.selection[layer] = self._select(messages)
            self._adjacencies.append(self._build_adjacency(self.selection[layer]))
            x = spmm(self._adjacencies[-1][0], x)
        self.selected.fill_(True)

    def _messages(self, item_x: Tensor) -> Tensor:
        """``[num_items, *]`` what the similarity compares (the reference's messages)."""
        if self.similarity == "category":
            return self.item_classes
        return item_x * self.item_deg.clamp(min=1).float().pow(-0.5).unsqueeze(1)

    def _select(self, messages: Tensor) -> Tensor:
        """``[num_slots]`` selected item per slot, users in order, items ascending."""
        deg, rowptr, slot_rowptr = self.user_deg, self.user_rowptr, self.slot_rowptr
        out = torch.empty(int(slot_rowptr[-1]), dtype=torch.long, device=deg.device)
        # users with at most k items (or no selection): all of them, in the same order
        keep = deg[self.users] <= (self.k if self.submodular else math.inf)
        position = torch.arange(len(self.users), device=deg.device) - rowptr[self.users]
        out[slot_rowptr[self.users[keep]] + position[keep]] = self.items[keep]
        if not self.submodular:
            return out
        for d in torch.unique(deg[deg > self.k]).tolist():
            group = torch.nonzero(deg == d).squeeze(1)
            per_chunk = max(1, SELECTION_BLOCK // (d * d))
            for chunk in group.split(per_chunk):
                neighbours = self.items[
                    rowptr[chunk].unsqueeze(1) + torch.arange(d, device=deg.device)
                ]
                if self.similarity == "category":
                    sims = jaccard_similarity(messages[neighbours])
                else:
                    sims = kernel_similarity(messages[neighbours], self.sigma)
                picks = greedy_facility_location(sims, self.k)
                chosen = torch.sort(neighbours.gather(1, picks), dim=1).values
                slots = slot_rowptr[chunk].unsqueeze(1) + torch.arange(self.k, device=deg.device)
                out[slots.reshape(-1)] = chosen.reshape(-1)
        return out

    def _build_adjacency(self, selected: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(A, A^T or None)``: items take all their users, users their selected items."""
        n = self.num_users + self.num_items
        slot_users = torch.repeat_interleave(
            torch.arange(self.num_users, device=selected.device), self.slot_rowptr.diff()
        )
        inv_u = self.user_deg.clamp(min=1).float().pow(-0.5)
        inv_i = self.item_deg.clamp(min=1).float().pow(-0.5)
        rows = torch.cat([slot_users, self.items + self.num_users])
        cols = torch.cat([selected + self.num_users, self.users])
        values = torch.cat(
            [inv_u[slot_users] * inv_i[selected], inv_i[self.items] * inv_u[self.users]]
        )
        coo = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), values, (n, n), check_invariants=True
        ).coalesce()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            a = coo.to_sparse_csr()
        # every user keeps all its items: the matrix is symmetric
        symmetric = len(selected) == len(self.items)
        return a, None if symmetric else transpose_csr(a)

    def adjacencies(self) -> list[tuple[Tensor, Tensor | None]]:
        """Per layer, ``(A, A^T or None)`` of the current selection (made now if
        there is none yet)."""
        if not self.selected:
            self.select_neighbours()
        device = self.selection.device
        if self._adjacencies is None or self._adjacencies[0][0].device != device:
            self._adjacencies = [self._build_adjacency(s) for s in self.selection]
        return self._adjacencies

    def layers(self) -> list[Tensor]:
        r"""The ``L + 1`` layer outputs :math:`\mathbf{H}^{(0)}, \dots, \mathbf{H}^{(L)}`."""
        adjacencies = self.adjacencies()
        x = self.embedding.weight
        out = [x]
        for layer in range(self.num_layers):
            a, a_t = adjacencies[min(layer, len(adjacencies) - 1)]
            x = spmm(a, x, a_t)
            out.append(x)
        return out

    def pair_weights(self, users: Tensor, pos: Tensor) -> Tensor | None:
        """``[B]`` class-balanced weight of each pair's positive (None when off)."""
        if self.item_weight is None:
            return None
        return self.item_weight.index_select(0, pos)

    def extra_repr_items(self) -> list[str]:
        parts = [f"k={self.k}", f"similarity={self.similarity}"] if self.submodular else []
        if self.reweight:
            parts.append(f"beta={self.beta}")
        return parts


def _forget_adjacencies(module: nn.Module, incompatible_keys: object) -> None:
    """After ``load_state_dict`` the selection may differ: rebuild on next use."""
    cast(DGRec, module)._adjacencies = None


def _sorted_pairs(interactions: Tensor, num_items: int) -> tuple[Tensor, Tensor]:
    """Distinct (user, item) pairs sorted by user, then item."""
    key = torch.unique(interactions[0].long() * num_items + interactions[1].long())
    return key // num_items, key % num_items


def _rowptr(counts: Tensor) -> Tensor:
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def category_membership(item_categories: Tensor, num_items: int, num_categories: int) -> Tensor:
    """``[num_items, C + 1]`` 0/1 float matrix: each item's categories; the last
    column marks items without a category (a class of their own)."""
    m = torch.zeros(num_items, num_categories + 1, device=item_categories.device)
    m[item_categories[0], item_categories[1]] = 1.0
    m[m.sum(1) == 0, num_categories] = 1.0
    return m


def item_class_weights(membership: Tensor, counts: Tensor, beta: float) -> Tensor:
    r"""``[num_items]`` mean over an item's classes of
    :math:`(1-\beta)/(1-\beta^{n_c})` (Cui et al., CVPR 2019), unnormalised.

    Args:
        membership: ``[num_items, C]`` 0/1 class membership, every row non-empty.
        counts: ``[C]`` samples :math:`n_c` per class; a class with none gets 0.
        beta: :math:`\beta \in [0, 1)`.
    """
    counts = counts.double()
    effective = 1.0 - torch.pow(beta, counts)
    per_class = torch.where(counts > 0, (1.0 - beta) / effective.clamp(min=1e-300), 0.0)
    m = membership.double()
    return (m @ per_class / m.sum(1)).float()


def kernel_similarity(x: Tensor, sigma: float) -> Tensor:
    r"""``[B, n, n]`` :math:`\exp(-\lVert x_i - x_j \rVert / (\sigma \bar D))` per row of
    ``x`` ``[B, n, d]``, :math:`\bar D` the row's mean pairwise distance (the
    reference's ``similarity_matrix``)."""
    dists = torch.cdist(x, x)
    scale = sigma * dists.mean(dim=(1, 2), keepdim=True).clamp(min=1e-12)
    return torch.exp(-dists / scale)


def jaccard_similarity(classes: Tensor) -> Tensor:
    """``[B, n, n]`` Jaccard overlap of 0/1 class rows ``[B, n, C]``, 1 on the diagonal."""
    inter = classes @ classes.transpose(1, 2)
    sizes = classes.sum(-1)
    union = sizes.unsqueeze(2) + sizes.unsqueeze(1) - inter
    sims = inter / union.clamp(min=1)
    eye = torch.eye(classes.shape[1], dtype=torch.bool, device=classes.device)
    return sims.masked_fill(eye, 1.0)


def greedy_facility_location(similarity: Tensor, k: int) -> Tensor:
    r"""``[B, min(k, n)]`` positions picked greedily for
    :math:`f(S) = \sum_j \max_{i \in S} s_{ij}`, in the order picked.

    Each step takes the candidate of largest marginal gain
    :math:`f(S \cup \{i\}) - f(S) = \sum_j \max(s_{ij}, c_j) - \sum_j c_j` with
    :math:`c_j = \max_{i' \in S} s_{i'j}` (the second sum is the same for every
    candidate, so it is left out); ties go to the lowest position and a
    position is never picked twice.

    Args:
        similarity: ``[B, n, n]`` symmetric non-negative similarities.
        k: how many to pick.
    """
    b, n, _ = similarity.shape
    rows = torch.arange(b, device=similarity.device)
    cover = similarity.new_zeros(b, 1, n)
    taken = torch.zeros(b, n, dtype=torch.bool, device=similarity.device)
    scratch = torch.empty_like(similarity)
    picks = []
    for _ in range(min(k, n)):
        covered = torch.maximum(similarity, cover, out=scratch).sum(-1)
        pick = covered.masked_fill_(taken, -math.inf).argmax(1)
        taken[rows, pick] = True
        cover = torch.maximum(cover, similarity[rows, pick].unsqueeze(1))
        picks.append(pick)
    return torch.stack(picks, 1)
