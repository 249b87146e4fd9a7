"""LightGCN with item text: frozen sentence-encoder features fused into the item layer 0."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from gnnrec.errors import ConfigError
from gnnrec.graph.build import RecGraph, adjacency
from gnnrec.models.base import Recommender, check_int, split_nodes, squared_norm
from gnnrec.models.layers.combine import layer_combination
from gnnrec.models.layers.propagate import propagate_layers, transpose_csr
from gnnrec.text.encoder import DEFAULT_ENCODER, encode_texts

FUSIONS = ("none", "sum", "concat", "gate")
"""Ways of combining an item's ID embedding with its projected text (``none``: no text)."""


class TextFusion(nn.Module):
    r"""Maps an item's ID embedding :math:`\mathbf{e}_i` (``[I, id_dim]``) and
    projected text :math:`\mathbf{W}\mathbf{t}_i` (``[I, text_dim]``) to its
    layer-0 row (``[I, d]``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    @property
    def id_dim(self) -> int:
        return self.dim

    @property
    def text_dim(self) -> int:
        return self.dim

    def reset_parameters(self) -> None:
        """Re-initialise learned weights (none by default)."""


class SumFusion(TextFusion):
    r""":math:`\mathbf{e}^{(0)}_i = \mathbf{e}_i + \mathbf{W}\mathbf{t}_i`."""

    def forward(self, ids: Tensor, text: Tensor) -> Tensor:
        return ids + text


class ConcatFusion(TextFusion):
    r""":math:`\mathbf{e}^{(0)}_i = [\mathbf{e}_i ; \mathbf{W}\mathbf{t}_i]`, the ID
    part :math:`d - \lfloor d/2 \rfloor` wide and the text part :math:`\lfloor d/2 \rfloor`
    (so the row is as wide as a user's)."""

    def __init__(self, dim: int) -> None:
        if dim < 2:
            raise ValueError(f"fusion 'concat' needs embedding_dim >= 2, got {dim}")
        super().__init__(dim)

    @property
    def id_dim(self) -> int:
        return self.dim - self.dim // 2

    @property
    def text_dim(self) -> int:
        return self.dim // 2

    def forward(self, ids: Tensor, text: Tensor) -> Tensor:
        return torch.cat([ids, text], dim=1)


class GateFusion(TextFusion):
    r""":math:`\mathbf{g}_i = \sigma(\mathbf{W}_g [\mathbf{e}_i ; \mathbf{W}\mathbf{t}_i]
    + \mathbf{b}_g)`, :math:`\mathbf{e}^{(0)}_i = \mathbf{g}_i \odot \mathbf{e}_i +
    (1 - \mathbf{g}_i) \odot \mathbf{W}\mathbf{t}_i`: an element-wise learned mix,
    starting near one half of each (Xavier :math:`\mathbf{W}_g`, zero bias)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.gate = nn.Linear(2 * dim, dim)

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, ids: Tensor, text: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate(torch.cat([ids, text], dim=1)))
        return g * ids + (1 - g) * text


_FUSION_CLASSES: dict[str, type[TextFusion]] = {
    "sum": SumFusion,
    "concat": ConcatFusion,
    "gate": GateFusion,
}


def check_fusion(fusion: str, text_only: bool) -> None:
    """Validate the fusion switches (before any text is encoded)."""
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
    if not isinstance(text_only, bool):
        raise ValueError(f"text_only must be true or false, got {text_only!r}")
    if text_only and fusion == "none":
        raise ValueError(
            "text_only=true represents items by their text alone, but fusion 'none' turns "
            "the text off; set fusion to sum, concat or gate (unused with text_only)"
        )


class TextLightGCN(Recommender):
    r"""LightGCN whose item layer 0 fuses a free ID embedding with the item's text.

    Each item's text :math:`s_i` (title, genres, description: the dataset's
    ``item_text``) is encoded once by a frozen pretrained sentence encoder
    :math:`f` (all-MiniLM-L6-v2 by default), :math:`\mathbf{t}_i = f(s_i)
    \in \mathbb{R}^{384}`, and projected by a learned
    :math:`\mathbf{W} \in \mathbb{R}^{d_t \times 384}`. Layer 0 is

    .. math::
        \mathbf{e}^{(0)}_u = \mathbf{e}_u, \qquad
        \mathbf{e}^{(0)}_i = \operatorname{fuse}(\mathbf{e}_i, \mathbf{W}\mathbf{t}_i),

    with ``fusion`` one of

    * ``sum``: :math:`\mathbf{e}_i + \mathbf{W}\mathbf{t}_i`;
    * ``concat``: :math:`[\mathbf{e}_i ; \mathbf{W}\mathbf{t}_i]`, each part half of
      :math:`d`;
    * ``gate``: :math:`\mathbf{g}_i \odot \mathbf{e}_i + (1 - \mathbf{g}_i) \odot
      \mathbf{W}\mathbf{t}_i`, :math:`\mathbf{g}_i = \sigma(\mathbf{W}_g[\mathbf{e}_i ;
      \mathbf{W}\mathbf{t}_i] + \mathbf{b}_g)`;
    * ``none``: :math:`\mathbf{e}_i` (plain LightGCN; no text needed);

    or, with ``text_only``, :math:`\mathbf{e}^{(0)}_i = \mathbf{W}\mathbf{t}_i` (no
    item ID embedding, so an item never seen in training still has a
    representation). Then LightGCN's propagation and layer mean:

    .. math::
        \mathbf{E}^{(k+1)} = \hat{\mathbf{A}} \mathbf{E}^{(k)}, \qquad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)}, \qquad
        \hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i.

    Propagation: He et al., "LightGCN", SIGIR 2020. Encoder: Reimers &
    Gurevych, "Sentence-BERT", EMNLP 2019. Fusing frozen pretrained text
    features with ID embeddings follows text-enhanced recommenders such as
    UniSRec (Hou et al., KDD 2022, which adapts frozen BERT features with a
    learned projection); this model is gnnrec's own composition, not a
    paper's. Choices to state:

    * the text features are frozen (a buffer), encoded once and cached; only
      :math:`\mathbf{W}`, :math:`\mathbf{W}_g`, :math:`\mathbf{b}_g` and the ID
      embeddings are learned; :math:`\mathbf{W}` has no bias;
    * items without text encode the empty text (all share one vector);
    * the L2 term covers the batch's user and item ID rows and the batch
      items' projected texts :math:`\lVert\mathbf{W}\mathbf{t}_i\rVert^2` (so
      :math:`\mathbf{W}` is penalised through the items it serves, as an item
      embedding would be); the gate is not regularised;
    * with category nodes in the graph (``graph.include_categories``) they get
      free embeddings, as in :class:`~gnnrec.models.lightgcn.LightGCN`;
    * no edge or message dropout.

    Args:
        adjacency: ``[N, N]`` sparse normalised adjacency, nodes ordered users,
            items(, other nodes).
        num_users: number of users.
        num_items: number of items.
        text_features: ``[num_items, t]`` frozen text encodings; may be None
            only with ``fusion="none"``.
        embedding_dim: size :math:`d` of the layer-0 rows.
        num_layers: number of propagation layers :math:`K`.
        fusion: ``sum``, ``concat``, ``gate`` or ``none`` (see above).
        text_only: items are their projected text alone (no ID embedding).
        alpha: layer-combination weights (length ``K + 1``); None gives
            :math:`1/(K+1)` each.
        combine: layer combination (see
            :func:`~gnnrec.models.layers.combine.layer_combination`).
        init_std: standard deviation of the normal initialisation of the
            embeddings and of :math:`\mathbf{W}` (the encodings have unit norm,
            so :math:`\mathbf{W}\mathbf{t}_i` starts at the embeddings' scale).
        symmetric: whether ``adjacency`` is symmetric; otherwise its transpose
            is kept for the backward.
    """

    adjacency: Tensor
    adjacency_t: Tensor | None
    text_features: Tensor | None

    def __init__(
        self,
        adjacency: Tensor,
        num_users: int,
        num_items: int,
        text_features: Tensor | None,
        embedding_dim: int = 64,
        num_layers: int = 3,
        fusion: str = "gate",
        text_only: bool = False,
        alpha: Sequence[float] | None = None,
        combine: str = "mean",
        init_std: float = 0.1,
        symmetric: bool = True,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("num_layers", num_layers, minimum=0)
        check_fusion(fusion, text_only)
        uses_text = text_only or fusion != "none"
        if uses_text and text_features is None:
            raise ValueError(f"fusion {fusion!r} needs text_features; got None")
        if text_features is not None and (
            text_features.dim() != 2 or text_features.shape[0] != num_items
        ):
            raise ValueError(
                f"text_features must be [num_items={num_items}, t], got {list(text_features.shape)}"
            )
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = num_layers
        self.fusion_name, self.text_only = fusion, text_only
        self.init_std = init_std
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.register_buffer(
            "adjacency_t", None if symmetric else transpose_csr(adjacency), persistent=False
        )
        self.register_buffer(
            "text_features",
            None if not uses_text else cast(Tensor, text_features).detach().float(),
            persistent=False,
        )
        self.fusion: TextFusion | None = (
            _FUSION_CLASSES[fusion](embedding_dim) if uses_text and not text_only else None
        )
        self.user_embedding = nn.Embedding(num_users, embedding_dim)
        self.item_embedding: nn.Embedding | None = None
        if not text_only:
            id_dim = embedding_dim if self.fusion is None else self.fusion.id_dim
            self.item_embedding = nn.Embedding(num_items, id_dim)
        self.projection: nn.Linear | None = None
        if uses_text:
            text_dim = embedding_dim if self.fusion is None else self.fusion.text_dim
            self.projection = nn.Linear(cast(Tensor, text_features).shape[1], text_dim, bias=False)
        other = adjacency.shape[0] - num_users - num_items
        self.other_embedding = nn.Embedding(other, embedding_dim) if other > 0 else None
        if alpha is not None and combine == "mean":
            combine = "weighted"
        self.combine = layer_combination(combine, num_layers, embedding_dim, alpha)
        self.reset_parameters()

    @classmethod
    def from_graph(
        cls,
        graph: RecGraph,
        fusion: str = "gate",
        text_only: bool = False,
        encoder: str = DEFAULT_ENCODER,
        text_batch_size: int = 64,
        text_cache_dir: str | Path | None = None,
        norm: str = "sym",
        self_loops: bool = False,
        **hparams,
    ) -> TextLightGCN:
        """Build over a training graph, encoding ``graph.item_text`` with ``encoder``
        (cached under ``text_cache_dir``, default ``$GNNREC_CACHE`` or
        ``~/.cache/gnnrec``); ``norm`` / ``self_loops`` as in LightGCN.

        Raises:
            ConfigError: the text is needed but the dataset has none, or the
                encoder's package is not installed.
        """
        check_fusion(fusion, text_only)
        features = None
        if text_only or fusion != "none":
            if graph.item_text is None:
                raise ConfigError(
                    f"model textgcn (fusion={fusion}, text_only={text_only}) needs item text, "
                    "but the dataset has none: add an item_text section to the dataset config "
                    "(see docs/models/text.md; dataset=ml-100k has one), or set "
                    "model.fusion=none for plain LightGCN"
                )
            vectors = encode_texts(graph.item_text, encoder, text_batch_size, text_cache_dir)
            features = torch.from_numpy(vectors).to(graph.adjacency.device)
        if not isinstance(self_loops, bool):
            raise ValueError(f"self_loops must be true or false, got {self_loops!r}")
        a = graph.adjacency
        if norm != "sym" or self_loops:
            a = adjacency(graph.edge_index, graph.num_nodes, norm, self_loops)
        symmetric = norm != "left"
        return cls(
            a,
            graph.num_users,
            graph.num_items,
            features,
            fusion=fusion,
            text_only=text_only,
            symmetric=symmetric,
            **hparams,
        )

    def reset_parameters(self) -> None:
        for table in (self.user_embedding, self.item_embedding, self.other_embedding):
            if table is not None:
                nn.init.normal_(table.weight, std=self.init_std)
        if self.projection is not None:
            nn.init.normal_(self.projection.weight, std=self.init_std)
        if self.fusion is not None:
            self.fusion.reset_parameters()
        self.combine.reset_parameters()

    def item_inputs(self) -> Tensor:
        r"""Items' layer-0 rows :math:`\mathbf{e}^{(0)}_i`, ``[num_items, d]``."""
        if self.projection is None:
            return cast(nn.Embedding, self.item_embedding).weight
        text = self.projection(self.text_features)
        if self.fusion is None:
            return text
        return self.fusion(cast(nn.Embedding, self.item_embedding).weight, text)

    def layers(self) -> list[Tensor]:
        """The ``K + 1`` layer outputs ``[N, d]`` (layer 0 first)."""
        parts = [self.user_embedding.weight, self.item_inputs()]
        if self.other_embedding is not None:
            parts.append(self.other_embedding.weight)
        x = torch.cat(parts, dim=0)
        return propagate_layers(self.adjacency, x, self.num_layers, self.adjacency_t)

    def forward(self) -> tuple[Tensor, Tensor]:
        return split_nodes(self.combine(self.layers()), self.num_users, self.num_items)

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        total = squared_norm(self.user_embedding.weight, users)
        if self.item_embedding is not None:
            total = total + squared_norm(self.item_embedding.weight, pos, neg)
        if self.projection is not None:
            for items in (pos, neg):
                text = self.projection(cast(Tensor, self.text_features).index_select(0, items))
                total = total + text.pow(2).sum()
        return total

    def __repr__(self) -> str:
        parts = [
            f"users={self.num_users}",
            f"items={self.num_items}",
            f"dim={self.user_embedding.embedding_dim}",
            f"layers={self.num_layers}",
            f"fusion={self.fusion_name}",
        ]
        if self.text_only:
            parts.append("text_only=True")
        if self.text_features is not None:
            parts.append(f"text_dim={self.text_features.shape[1]}")
        return f"{type(self).__name__}({', '.join(parts)}, combine={type(self.combine).__name__})"
