r"""Self-supervised graph recommenders on a LightGCN backbone: SGL, SimGCL, XSimGCL.

All three add a contrastive term to the recommendation loss through
:meth:`~gnnrec.models.base.Recommender.auxiliary_losses` (logged as
``train/cl``):

.. math::
    \mathcal{L}_{cl} = \lambda \big(\operatorname{InfoNCE}_\tau(\mathbf{Z}'_{\mathcal{U}_B},
        \mathbf{Z}''_{\mathcal{U}_B}) + \operatorname{InfoNCE}_\tau(\mathbf{Z}'_{\mathcal{I}_B},
        \mathbf{Z}''_{\mathcal{I}_B})\big),

with :math:`\mathcal{U}_B` the batch's unique users, :math:`\mathcal{I}_B` its
unique positive items, :math:`\mathbf{Z}', \mathbf{Z}''` two views of the
node representations and :func:`~gnnrec.losses.functional.info_nce` (cosine
logits, the other unique users / items of the batch as negatives). The
models differ in how the two views are made: SGL perturbs the graph, SimGCL
and XSimGCL perturb the embeddings.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnrec.graph.augment import AUGMENTATIONS, augmented_view
from gnnrec.graph.build import RecGraph
from gnnrec.losses.functional import info_nce
from gnnrec.models.base import GraphRecommender, check_int, split_nodes
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.propagate import propagate_layers, spmm

SMALL_DATA_NOTE = """Default contrastive weight lambda = 0.01 for SGL, SimGCL and XSimGCL.

The papers use 0.1-0.5 on Yelp2018/Amazon-Book/Gowalla, where a batch of
2,048 pairs touches a few per cent of the users and items. On ml-100k and
amazon-beauty a batch touches most of the catalogue, so the InfoNCE
gradient reaches every node at every step and, under Adam, swamps the BPR
gradient: with lambda = 0.2 the BPR loss stays at log 2 and validation
Recall@20 falls from the first epoch (SimGCL 0.073, XSimGCL 0.103 on
ml-100k). lambda = 0.01 was chosen on ml-100k *validation* Recall@20 among
{0.002, 0.01, 0.03, 0.05, 0.2} (SimGCL: 0.216, 0.248, 0.246, <0.08, 0.073).
Set ``model.ssl_weight`` to the papers' values on large data."""


def _check_number(name: str, value: object, low: float, strict: bool = False) -> float:
    """A real hyper-parameter ``>= low`` (``> low`` with ``strict``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or cast(float, value) < low or (strict and value == low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(cast(float, value))


def sign_aligned_noise(x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    r"""SimGCL's noise :math:`\epsilon\, \operatorname{sign}(\mathbf{x}) \odot
    \bar\Delta`, :math:`\bar\Delta = \Delta / \lVert \Delta \rVert_2`,
    :math:`\Delta \sim U(0, 1)^d`, drawn per row.

    Each row of the result has norm :math:`\epsilon` (where the row of ``x``
    has no zero entry) and the signs of ``x``, so adding it moves an embedding
    within its hyperoctant by a bounded amount.

    Args:
        x: ``[N, d]`` embeddings.
        eps: noise magnitude :math:`\epsilon`.
        generator: source of :math:`\Delta` (None: torch's global generator).

    Returns:
        ``[N, d]`` noise.
    """
    delta = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return eps * torch.sign(x) * F.normalize(delta, dim=-1)


class _ContrastiveLightGCN(GraphRecommender):
    """Shared backbone: one node embedding table, the normalised adjacency, the
    layer combination, the layer-0 L2 term and the two-sided InfoNCE term."""

    adjacency: Tensor

    def __init__(
        self,
        adjacency: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int,
        num_layers: int,
        ssl_weight: float,
        ssl_temp: float,
        init_std: float,
        include_layer0: bool,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers)
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.ssl_weight = _check_number("ssl_weight", ssl_weight, 0.0)
        self.ssl_temp = _check_number("ssl_temp", ssl_temp, 0.0, strict=True)
        self.init_std = init_std
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.embedding = nn.Embedding(adjacency.shape[0], embedding_dim)
        if include_layer0:
            self.combine = layer_combination("mean", num_layers, embedding_dim)
        else:
            alpha = [0.0] + [1.0 / num_layers] * num_layers
            self.combine = layer_combination("weighted", num_layers, embedding_dim, alpha)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)

    def _contrast(self, users: Tensor, pos: Tensor, view1: Tensor, view2: Tensor) -> Tensor:
        """``ssl_weight`` times InfoNCE of two ``[N, d]`` views over the batch's
        unique users plus over its unique positive items."""
        u1, i1 = split_nodes(view1, self.num_users, self.num_items)
        u2, i2 = split_nodes(view2, self.num_users, self.num_items)
        u, i = torch.unique(users), torch.unique(pos)
        user_term = info_nce(u1.index_select(0, u), u2.index_select(0, u), self.ssl_temp)
        item_term = info_nce(i1.index_select(0, i), i2.index_select(0, i), self.ssl_temp)
        return self.ssl_weight * (user_term + item_term)

    def _perturbed_layers(self, eps: float, generator: torch.Generator | None) -> list[Tensor]:
        r"""Layers :math:`\mathbf{E}^{(k)} = \hat{\mathbf{A}}\mathbf{E}^{(k-1)} +
        \Delta'^{(k)}` (:func:`sign_aligned_noise`), ``K + 1`` matrices ``[N, d]``."""
        x = self.embedding.weight
        layers = [x]
        for _ in range(self.num_layers):
            x = spmm(self.adjacency, x)
            x = x + sign_aligned_noise(x, eps, generator)
            layers.append(x)
        return layers

    def layers(self) -> list[Tensor]:
        """Layers ``0..K`` of the unperturbed propagation (``[N, d]`` each)."""
        return propagate_layers(self.adjacency, self.embedding.weight, self.num_layers)

    def extra_repr_items(self) -> list[str]:
        return [f"ssl_weight={self.ssl_weight}", f"ssl_temp={self.ssl_temp}"]


class SGL(_ContrastiveLightGCN):
    r"""SGL: LightGCN plus contrast between two randomly perturbed graphs.

    .. math::
        \mathbf{E} = \frac{1}{K+1}\sum_{k=0}^{K} \hat{\mathbf{A}}^{k}\mathbf{E}^{(0)},
        \qquad
        \mathbf{Z}^{v} = \frac{1}{K+1}\sum_{k=0}^{K}
            \Big(\prod_{l=k}^{1} \hat{\mathbf{A}}^{v}_{l}\Big)\mathbf{E}^{(0)},
        \quad v \in \{', ''\},

    scores :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i` from the
    unperturbed graph (:meth:`forward`), and the contrastive term of the
    module docstring between :math:`\mathbf{Z}'` and :math:`\mathbf{Z}''`.
    :math:`\hat{\mathbf{A}}^{v}_{l}` is the re-normalised adjacency of a
    random subgraph (:mod:`gnnrec.graph.augment`): ``ed`` drops a share
    ``drop_ratio`` of the user–item edges (one graph for all layers), ``nd``
    drops that share of users and of items with their edges, ``rw`` drops
    edges with a fresh mask per layer.

    Wu et al., "Self-supervised Graph Learning for Recommendation", SIGIR
    2021; defaults from their reference code (wujcan/SGL-Torch,
    ``conf/SGL.ini``): 3 layers, ED, ratio 0.1, :math:`\lambda=0.1`,
    :math:`\tau=0.2`.

    The two views are drawn in :meth:`start_epoch`, once per epoch, as in the
    reference code; a step costs three propagations (main graph and both
    views). Deviations: InfoNCE contrasts the batch's unique users (items)
    with each other, as in SELFRec's SGL, where SGL-Torch uses every user
    (item) as a negative and sums over the batch with repeats; the loss is a
    batch mean. Embeddings start from :math:`\mathcal{N}(0, \sigma^2)` like the
    package's LightGCN (SGL-Torch: Xavier). With category nodes in the graph
    (an option, off by default) item–category edges are kept in every view
    and categories are never dropped; only interactions are augmented.

    Args:
        adjacency: ``[N, N]`` sparse normalised adjacency, nodes ordered
            users, items(, categories).
        edge_index: ``[2, E]`` edges of the same graph, both directions (the
            views are built from it).
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K \ge 1`.
        aug_type: ``"ed"``, ``"nd"`` or ``"rw"``.
        drop_ratio: share :math:`\rho \in [0, 1)` of edges (nodes) dropped.
        ssl_weight: :math:`\lambda`.
        ssl_temp: :math:`\tau`.
        init_std: standard deviation of the normal initialisation.
    """

    edge_index: Tensor

    def __init__(
        self,
        adjacency: Tensor,
        edge_index: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        aug_type: str = "ed",
        drop_ratio: float = 0.1,
        ssl_weight: float = 0.01,
        ssl_temp: float = 0.2,
        init_std: float = 0.1,
    ) -> None:
        super().__init__(
            adjacency,
            num_users,
            num_items,
            embedding_dim,
            num_layers,
            ssl_weight,
            ssl_temp,
            init_std,
            include_layer0=True,
        )
        if aug_type not in AUGMENTATIONS:
            raise ValueError(
                f"aug_type must be one of {', '.join(AUGMENTATIONS)} (edge dropout, node "
                f"dropout, random walk); got {aug_type!r}"
            )
        self.aug_type = aug_type
        self.drop_ratio = _check_number("drop_ratio", drop_ratio, 0.0)
        if self.drop_ratio >= 1.0:
            raise ValueError(f"drop_ratio must be in [0, 1), got {drop_ratio!r}")
        self.register_buffer("edge_index", edge_index, persistent=False)
        self._views: tuple[list[Tensor], list[Tensor]] | None = None

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> SGL:
        """Build over a training graph's normalised adjacency and edge list."""
        return cls(graph.adjacency, graph.edge_index, graph.num_users, graph.num_items, **hparams)

    def start_epoch(self, generator: torch.Generator) -> None:
        """Draw this epoch's two views (per-layer adjacencies) from ``generator``."""
        self._views = (self._draw_view(generator), self._draw_view(generator))

    def _draw_view(self, generator: torch.Generator) -> list[Tensor]:
        return augmented_view(
            self.aug_type,
            self.edge_index,
            self.adjacency.shape[0],
            self.num_users,
            self.num_items,
            self.drop_ratio,
            self.num_layers,
            generator,
        )

    def view_embeddings(self, view: list[Tensor]) -> Tensor:
        """``[N, d]`` combined layers of a propagation over per-layer adjacencies."""
        x = self.embedding.weight
        layers = [x]
        for adjacency in view:
            x = spmm(adjacency, x)
            layers.append(x)
        return self.combine(layers)

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        if self._views is None:
            raise RuntimeError("SGL draws its graph views in start_epoch(); call it first")
        view1, view2 = (self.view_embeddings(v) for v in self._views)
        return {"cl": self._contrast(users, pos, view1, view2)}


class SimGCL(_ContrastiveLightGCN):
    r"""SimGCL: LightGCN plus contrast between two noise-perturbed propagations.

    .. math::
        \mathbf{E}^{(k)} = \hat{\mathbf{A}}\mathbf{E}^{(k-1)}, \qquad
        \mathbf{E} = \frac{1}{K}\sum_{k=1}^{K} \mathbf{E}^{(k)},

    .. math::
        \mathbf{Z}^{(k)} = \hat{\mathbf{A}}\mathbf{Z}^{(k-1)} + \Delta'^{(k)},
        \quad \Delta'^{(k)} = \epsilon\, \operatorname{sign}(\hat{\mathbf{A}}
            \mathbf{Z}^{(k-1)}) \odot \frac{\Delta}{\lVert\Delta\rVert_2},
        \quad \Delta \sim U(0,1),
        \qquad \mathbf{Z} = \frac{1}{K}\sum_{k=1}^{K} \mathbf{Z}^{(k)},

    with :math:`\mathbf{Z}^{(0)} = \mathbf{E}^{(0)}`, scores
    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i` from the unperturbed
    propagation (:meth:`forward`), and the contrastive term of the module
    docstring between two independently perturbed :math:`\mathbf{Z}', \mathbf{Z}''`.

    Yu et al., "Are Graph Augmentations Necessary? Simple Graph Contrastive
    Learning for Recommendation", SIGIR 2022; the layer mean leaves out
    layer 0, as in the authors' SELFRec (``model/graph/SimGCL.py``), which
    this follows. Defaults: 2 layers and :math:`\epsilon = 0.1` (SELFRec),
    :math:`\tau = 0.2`, :math:`\lambda = 0.01` (see :data:`SMALL_DATA_NOTE`;
    the paper uses 0.2 on Douban-Book, SELFRec 0.5 on Yelp2018).

    A step costs three propagations (the main one and two perturbed), which
    is the method. Deviations: the noise comes from the ``generator`` the
    trainer passes; embeddings start from :math:`\mathcal{N}(0, \sigma^2)`
    like the package's LightGCN (SELFRec: Xavier), so :math:`\epsilon` is
    relative to larger embeddings; the L2 term is on layer-0 rows (SELFRec:
    on the propagated batch rows). Category nodes (an option, off by
    default) are propagated and perturbed like the others.

    Args:
        adjacency: ``[N, N]`` sparse normalised adjacency, nodes ordered
            users, items(, categories).
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K \ge 1`.
        eps: noise magnitude :math:`\epsilon \ge 0`.
        ssl_weight: :math:`\lambda`.
        ssl_temp: :math:`\tau`.
        init_std: standard deviation of the normal initialisation.
    """

    def __init__(
        self,
        adjacency: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 2,
        eps: float = 0.1,
        ssl_weight: float = 0.01,
        ssl_temp: float = 0.2,
        init_std: float = 0.1,
    ) -> None:
        super().__init__(
            adjacency,
            num_users,
            num_items,
            embedding_dim,
            num_layers,
            ssl_weight,
            ssl_temp,
            init_std,
            include_layer0=False,
        )
        self.eps = _check_number("eps", eps, 0.0)

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> SimGCL:
        """Build over a training graph's normalised adjacency."""
        return cls(graph.adjacency, graph.num_users, graph.num_items, **hparams)

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        view1 = self.combine(self._perturbed_layers(self.eps, generator))
        view2 = self.combine(self._perturbed_layers(self.eps, generator))
        return {"cl": self._contrast(users, pos, view1, view2)}


class XSimGCL(_ContrastiveLightGCN):
    r"""XSimGCL: one noise-perturbed propagation serves both the recommendation
    and the contrastive task.

    .. math::
        \mathbf{E}^{(k)} = \hat{\mathbf{A}}\mathbf{E}^{(k-1)} + \Delta'^{(k)},
        \qquad \mathbf{E} = \frac{1}{K}\sum_{k=1}^{K} \mathbf{E}^{(k)},

    with :math:`\Delta'^{(k)}` SimGCL's sign-aligned uniform noise of norm
    :math:`\epsilon` per row (:func:`sign_aligned_noise`) in training mode and
    :math:`0` in evaluation mode, scores
    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`, and the contrastive
    term of the module docstring between the final :math:`\mathbf{E}` and the
    layer-:math:`l^*` :math:`\mathbf{E}^{(l^*)}` of the same training
    :meth:`forward` (stored there; :meth:`auxiliary_losses` reuses it, so a
    step costs one propagation).

    Yu et al., "XSimGCL: Towards Extremely Simple Graph Contrastive Learning
    for Recommendation", TKDE 2023; the layer mean leaves out layer 0, as in
    SELFRec's ``model/graph/XSimGCL.py``, which this follows. Defaults from
    SELFRec's config: 2 layers, :math:`l^* = 1`, :math:`\epsilon = 0.2`,
    :math:`\lambda = 0.01` (see :data:`SMALL_DATA_NOTE`), :math:`\tau = 0.15`.

    Deviations: :meth:`forward` takes no arguments, so the training noise is
    drawn from the generator given to the last :meth:`start_epoch` call
    (torch's global generator, seeded by the runner, before the first);
    embeddings start from :math:`\mathcal{N}(0, \sigma^2)` (SELFRec: Xavier);
    the L2 term is on layer-0 rows. Category nodes (an option, off by
    default) are propagated and perturbed like the others.

    Args:
        adjacency: ``[N, N]`` sparse normalised adjacency, nodes ordered
            users, items(, categories).
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size :math:`d` of the embeddings.
        num_layers: number of propagation layers :math:`K \ge 1`.
        layer_cl: the contrasted layer :math:`l^* \in \{1, \dots, K\}`.
        eps: noise magnitude :math:`\epsilon \ge 0`.
        ssl_weight: :math:`\lambda`.
        ssl_temp: :math:`\tau`.
        init_std: standard deviation of the normal initialisation.
    """

    def __init__(
        self,
        adjacency: Tensor,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 2,
        layer_cl: int = 1,
        eps: float = 0.2,
        ssl_weight: float = 0.01,
        ssl_temp: float = 0.15,
        init_std: float = 0.1,
    ) -> None:
        super().__init__(
            adjacency,
            num_users,
            num_items,
            embedding_dim,
            num_layers,
            ssl_weight,
            ssl_temp,
            init_std,
            include_layer0=False,
        )
        check_int("layer_cl", layer_cl)
        if layer_cl > num_layers:
            raise ValueError(
                f"layer_cl must be between 1 and num_layers={num_layers}, got {layer_cl}"
            )
        self.layer_cl = layer_cl
        self.eps = _check_number("eps", eps, 0.0)
        self._generator: torch.Generator | None = None
        self._views: tuple[Tensor, Tensor] | None = None

    @classmethod
    def from_graph(cls, graph: RecGraph, **hparams) -> XSimGCL:
        """Build over a training graph's normalised adjacency."""
        return cls(graph.adjacency, graph.num_users, graph.num_items, **hparams)

    def train(self, mode: bool = True) -> XSimGCL:
        if not mode:
            self._views = None  # release the last training step's autograd graph
        return super().train(mode)

    def start_epoch(self, generator: torch.Generator) -> None:
        """Keep ``generator`` as the source of the training noise drawn in :meth:`forward`."""
        self._generator = generator

    def forward(self) -> tuple[Tensor, Tensor]:
        if not self.training:
            return super().forward()
        layers = self._perturbed_layers(self.eps, self._generator)
        final = self.combine(layers)
        self._views = (final, layers[self.layer_cl])
        return split_nodes(final, self.num_users, self.num_items)

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        if self._views is None:
            raise RuntimeError("XSimGCL contrasts the views of its last training forward(); none")
        return {"cl": self._contrast(users, pos, *self._views)}
