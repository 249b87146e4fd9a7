r"""Sequential interest: SASRec's causal self-attention over each user's TRAIN history.

A :class:`SequenceEncoder` reads a user's train interactions in time order
(:attr:`RecGraph.log <gnnrec.graph.build.RecGraph.log>`, the most recent
``max_len`` kept) and gives one state per position; the state at position
:math:`t` has seen items :math:`s_1, \dots, s_t` only (causal mask). Two models
use it:

* :class:`SASRec` (``model=sasrec``): the user representation for ranking is
  the state at the last position of the train history.
* :class:`SeqLightGCN` (``model=seqgcn``): LightGCN's user embedding fused
  (``sum`` / ``gate`` / ``concat``) with the state at the last position of an
  encoder that reads LightGCN's item embeddings; items from LightGCN.

**Training without leakage.** The trainer's (user, positive) pairs are the
train interactions, so a user state computed from the whole train history
has read the positive. Both models train the encoder with SASRec's causal
next-item objective (:func:`next_item_loss`, returned by
``auxiliary_losses`` as ``train/next_item``): the state at position :math:`t`
scores item :math:`s_{t+1}` against sampled negatives, and no state sees its
own target. For the trainer's pair loss, :class:`SASRec` uses, in training
mode, the state *before* each user's last train item and gives weight only
to the pairs (user, last train item) (:meth:`SASRec.pair_weights`): the
configured loss and sampler then train exactly the evaluation task, predict
the next item from the history before it, on one pair per user.
:class:`SeqLightGCN` trains its fused vector on every pair like LightGCN,
whose own user vector also aggregates the positive's embedding: the pair
loss fits the train items (never a validation or test item), while the
next-item term is what teaches the encoder the order. One encoder pass per
optimisation step serves both terms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnrec.graph.build import RecGraph, TrainLog
from gnnrec.models.base import Recommender, check_heads, check_int, split_nodes, squared_norm
from gnnrec.models.layers.dropout import check_probability
from gnnrec.models.lightgcn import LightGCN


def user_sequences(log: TrainLog, num_users: int, max_len: int) -> tuple[Tensor, Tensor]:
    """Each user's train items in time order, the most recent ``max_len`` kept.

    Rows are ordered by timestamp within a user (ties keep the log's row
    order), whatever the order of ``log``.

    Returns:
        ``([num_users, L] item ids, right-padded with 0; [num_users] lengths)``
        with ``L = max(1, longest kept history)``.
    """
    check_int("max_len", max_len)
    users, items = log.users.cpu(), log.items.cpu()
    by_time = torch.sort(log.timestamps.cpu(), stable=True).indices
    order = by_time[torch.sort(users[by_time], stable=True).indices]
    users, items = users[order], items[order]
    counts = torch.bincount(users, minlength=num_users)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(users)) - starts[users]
    dropped = (counts - max_len).clamp(min=0)  # the oldest items past max_len
    keep = rank >= dropped[users]
    lengths = counts.clamp(max=max_len)
    width = int(lengths.max()) if num_users else 0
    sequences = torch.zeros(num_users, max(1, width), dtype=torch.long)
    sequences[users[keep], (rank - dropped[users])[keep]] = items[keep]
    return sequences, lengths


def interaction_keys(log: TrainLog, num_items: int) -> Tensor:
    """Sorted ``user * num_items + item`` of every train interaction, for
    membership tests by binary search (:func:`next_item_loss`)."""
    return torch.sort(log.users.cpu() * num_items + log.items.cpu()).values


class _CausalBlock(nn.Module):
    r"""One SASRec block, each sub-layer :math:`g` applied as
    :math:`\mathbf{x} + \operatorname{Dropout}(g(\operatorname{LayerNorm}(\mathbf{x})))`."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def attention(self, x: Tensor) -> Tensor:
        """Causal multi-head self-attention: position ``t`` reads positions ``<= t``."""
        batch, length, dim = x.shape
        q, k, v = (
            part.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)
            for part in self.qkv(x).chunk(3, dim=-1)
        )
        h = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(h.transpose(1, 2).reshape(batch, length, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x)))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class SequenceEncoder(nn.Module):
    r"""SASRec's encoder: causal multi-head self-attention over item sequences.

    .. math::
        \mathbf{X}^{(0)}_t = \sqrt{d}\,\mathbf{m}_{s_t} + \mathbf{p}_t, \qquad
        \mathbf{X}^{(b)} = \operatorname{FFN}'(\operatorname{SA}'(\mathbf{X}^{(b-1)})), \qquad
        \mathbf{H} = \operatorname{LayerNorm}(\mathbf{X}^{(B)}),

    with :math:`\mathbf{m}_{s_t}` the embedding of the item at position
    :math:`t` (given by the caller), :math:`\mathbf{p}_t` a learned position
    embedding, :math:`\operatorname{SA}` multi-head attention in which
    position :math:`t` attends to positions :math:`\le t` only,
    :math:`\operatorname{FFN}(\mathbf{x}) = \operatorname{ReLU}(\mathbf{x}
    \mathbf{W}_1 + \mathbf{b}_1)\mathbf{W}_2 + \mathbf{b}_2` per position, and
    each sub-layer :math:`g` wrapped as :math:`g'(\mathbf{x}) = \mathbf{x} +
    \operatorname{Dropout}(g(\operatorname{LayerNorm}(\mathbf{x})))`; dropout
    also on :math:`\mathbf{X}^{(0)}` and inside the FFN.

    Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018.
    Deviations: sequences are right-padded and positions count from the
    first kept item (:math:`\mathbf{p}_1` for it; the paper left-pads to a
    fixed length :math:`n`, so its positions count back from the end and
    every state knows how many items follow it). With right padding the
    causal mask alone keeps real positions from attending to padding, a
    user's states do not depend on how much padding its batch has, and no
    attention row is empty. Padded inputs and states are zeroed. Attention
    is PyTorch's fused ``scaled_dot_product_attention`` (causal). The
    paper's layer norm is applied to queries, keys and values alike
    (the authors' code normalises only the queries); no dropout on the
    attention weights (the authors' code has it; without it the fused causal
    kernel applies and a step on ml-100k costs about a quarter less).

    Args:
        embedding_dim: width :math:`d` of the item vectors and states.
        max_len: longest sequence (number of position embeddings).
        num_blocks: number of blocks :math:`B`.
        heads: attention heads (must divide ``embedding_dim``).
        dropout: dropout probability.
    """

    def __init__(
        self,
        embedding_dim: int = 64,
        max_len: int = 50,
        num_blocks: int = 2,
        heads: int = 1,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        check_int("embedding_dim", embedding_dim)
        check_int("max_len", max_len)
        check_int("num_blocks", num_blocks)
        check_int("heads", heads)
        check_heads(embedding_dim, heads)
        self.dropout = check_probability("dropout", dropout)
        self.embedding_dim, self.max_len = embedding_dim, max_len
        self.position = nn.Embedding(max_len + 1, embedding_dim, padding_idx=0)
        self.blocks = nn.ModuleList(
            _CausalBlock(embedding_dim, heads, self.dropout) for _ in range(num_blocks)
        )
        self.final_norm = nn.LayerNorm(embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.position.weight, std=0.1)
        with torch.no_grad():
            self.position.weight[0].zero_()
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.LayerNorm):
                module.reset_parameters()

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """States ``[B, L, d]`` of ``inputs`` ``[B, L, d]`` (item vectors of
        right-padded sequences) with ``lengths`` ``[B]``; padded states are 0."""
        batch, length, dim = inputs.shape
        if length > self.max_len:
            raise ValueError(f"sequences of length {length} exceed max_len={self.max_len}")
        steps = torch.arange(length, device=inputs.device)
        valid = (steps < lengths[:, None]).unsqueeze(-1).to(inputs.dtype)
        positions = (steps + 1).expand(batch, length) * valid.squeeze(-1).long()
        x = inputs * math.sqrt(dim) + self.position(positions)
        x = F.dropout(x, self.dropout, self.training) * valid
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x) * valid

    def __repr__(self) -> str:
        return (
            f"SequenceEncoder(dim={self.embedding_dim}, max_len={self.max_len}, "
            f"blocks={len(self.blocks)}, heads={self.blocks[0].heads}, "
            f"dropout={self.dropout})"
        )


def gather_items(items: Tensor, sequences: Tensor) -> Tensor:
    """``[U, L, d]`` rows of ``items`` ``[I, d]`` at ``sequences`` ``[U, L]``
    (``index_select``: its backward is deterministic on CPU threads)."""
    return items.index_select(0, sequences.reshape(-1)).view(*sequences.shape, items.shape[1])


def state_at(states: Tensor, index: Tensor) -> Tensor:
    """``[U, d]``: row ``u`` is ``states[u, index[u]]``, or 0 where ``index[u] < 0``."""
    users, length, dim = states.shape
    flat = torch.arange(users, device=states.device) * length + index.clamp(min=0)
    picked = states.reshape(users * length, dim).index_select(0, flat)
    return picked * (index >= 0).unsqueeze(-1).to(states.dtype)


def next_item_loss(
    states: Tensor,
    inputs: Tensor,
    lengths: Tensor,
    items: Tensor,
    keys: Tensor,
    num_negatives: int,
    generator: torch.Generator,
) -> Tensor:
    r"""SASRec's causal next-item objective (binary cross-entropy).

    .. math::
        \mathcal{L}_{seq} = \frac{1}{|\mathcal{T}|} \sum_{(u,t) \in \mathcal{T}}
            \Big[-\log\sigma(\mathbf{h}_{u,t}^\top\mathbf{m}_{s_{u,t+1}})
            - \sum_{j} \log\big(1 - \sigma(\mathbf{h}_{u,t}^\top\mathbf{m}_{j})\big)\Big]

    over the positions :math:`\mathcal{T}` that have a next item, with
    ``num_negatives`` items :math:`j` drawn uniformly per position; a draw
    that is one of the user's train items is left out of the sum (the
    paper redraws it).

    Args:
        states: ``[U, L, d]`` encoder states.
        inputs: ``[U, L, d]`` the vectors :math:`\mathbf{m}_{s_{u,t}}` of the sequences'
            items (right-padded, as the encoder read them): the positives.
        lengths: ``[U]`` sequence lengths.
        items: ``[I, d]`` item vectors :math:`\mathbf{m}` (the negatives').
        keys: :func:`interaction_keys` of the train log.
        num_negatives: negatives per position.
        generator: source of the negatives.
    """
    users, length, dim = states.shape
    num_items = items.shape[0]
    steps = torch.arange(length - 1, device=states.device)
    has_next = (steps + 1 < lengths[:, None]).to(states.dtype)  # [U, L-1]
    count = has_next.sum()
    if length < 2 or count == 0:
        return states.sum() * 0.0
    h = states[:, :-1]
    positive = (h * inputs[:, 1:]).sum(-1)  # the next item is the next input
    terms = -F.logsigmoid(positive)
    shape = (users, length - 1, num_negatives)
    neg = torch.randint(num_items, shape, generator=generator, device=states.device)
    owner = torch.arange(users, device=states.device).view(-1, 1, 1) * num_items
    found = torch.searchsorted(keys, owner + neg).clamp(max=len(keys) - 1)
    fresh = (keys[found] != owner + neg).to(states.dtype)
    neg_items = gather_items(items, neg.view(users, -1)).view(*shape, dim)
    negative = torch.einsum("uld,ulkd->ulk", h, neg_items)
    terms = terms + (-F.logsigmoid(-negative) * fresh).sum(-1)
    return (terms * has_next).sum() / count


class SASRec(Recommender):
    r"""SASRec: the user is the causal self-attention state after their train history.

    .. math::
        \hat y_{ui} = \mathbf{h}_{u,n_u}^\top \mathbf{m}_i,

    with :math:`\mathbf{H}_u` the :class:`SequenceEncoder` states of user
    :math:`u`'s time-ordered train items :math:`s_{u,1..n_u}` (the most
    recent ``max_len``) over the item embeddings :math:`\mathbf{M}`, which
    also score (the paper's shared item embedding). Trained by
    :func:`next_item_loss` (weight ``seq_weight``, logged ``train/next_item``)
    plus the configured loss on leak-free pairs: in training mode
    :meth:`forward` returns :math:`\mathbf{h}_{u,n_u-1}` (the state before
    the user's last train item, 0 for users with one item) and
    :meth:`pair_weights` keeps only the pairs (user, last train item),
    reweighted to average 1 over the training pairs; every other pair's
    positive is one the training-mode state has read (or will), so it
    weighs 0.

    Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018.
    Deviations: the encoder's (see :class:`SequenceEncoder`); the extra
    pair loss on each user's last train item; the trainer's L2 term covers
    the item rows a batch touches (the paper uses dropout only; set
    ``train.reg_weight=0`` for that). Users without train items score 0
    everywhere (ties broken by item id).

    Args:
        sequences: ``[num_users, L]`` right-padded train items in time order.
        lengths: ``[num_users]`` sequence lengths.
        keys: :func:`interaction_keys` of the train log.
        num_items: size of the catalogue.
        embedding_dim: width :math:`d`.
        max_len: longest sequence kept (``>= 2``).
        num_blocks: self-attention blocks.
        heads: attention heads.
        dropout: dropout probability.
        num_negatives: negatives per position in :func:`next_item_loss`.
        seq_weight: weight of :func:`next_item_loss`.
        init_std: standard deviation of the item embeddings' initialisation.
    """

    sequences: Tensor
    lengths: Tensor
    keys: Tensor
    last_item: Tensor

    def __init__(
        self,
        sequences: Tensor,
        lengths: Tensor,
        keys: Tensor,
        num_items: int,
        embedding_dim: int = 64,
        max_len: int = 50,
        num_blocks: int = 2,
        heads: int = 1,
        dropout: float = 0.2,
        num_negatives: int = 1,
        seq_weight: float = 1.0,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_int("max_len", max_len, minimum=2)
        self.num_negatives = check_int("num_negatives", num_negatives)
        self.seq_weight = _check_weight(seq_weight)
        self.num_users, self.num_items = sequences.shape[0], num_items
        self.init_std = init_std
        self.encoder = SequenceEncoder(embedding_dim, max_len, num_blocks, heads, dropout)
        self.item_emb = nn.Embedding(num_items, embedding_dim)
        self.register_buffer("sequences", sequences, persistent=False)
        self.register_buffer("lengths", lengths, persistent=False)
        self.register_buffer("keys", keys, persistent=False)
        last = sequences.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        last = torch.where(lengths >= 2, last, -1)
        self.register_buffer("last_item", last, persistent=False)
        owners = keys.div(num_items, rounding_mode="floor")
        matching = int((keys % num_items == last.index_select(0, owners)).sum())
        # each log row (u, last item of u) gets this weight, so weights average 1 over the log
        self.pair_scale = len(keys) / matching if matching else 0.0
        self._states: tuple[Tensor, Tensor] | None = None
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, max_len: int = 50, **hparams) -> SASRec:
        """Build over a training graph's time-ordered log (:attr:`RecGraph.log`)."""
        log = _require_log(graph, "sasrec")
        sequences, lengths = user_sequences(log, graph.num_users, max_len)
        keys = interaction_keys(log, graph.num_items)
        device = graph.adjacency.device
        return cls(
            sequences.to(device),
            lengths.to(device),
            keys.to(device),
            graph.num_items,
            max_len=max_len,
            **hparams,
        )

    def reset_parameters(self) -> None:
        nn.init.normal_(self.item_emb.weight, std=self.init_std)
        self.encoder.reset_parameters()

    def forward(self) -> tuple[Tensor, Tensor]:
        items = self.item_emb.weight
        inputs = gather_items(items, self.sequences)
        states = self.encoder(inputs, self.lengths)
        self._states = (states, inputs) if self.training else None
        # training: the state before the last train item, so the weighted pair cannot be seen
        offset = 2 if self.training else 1
        return state_at(states, self.lengths - offset), items

    def pair_weights(self, users: Tensor, pos: Tensor) -> Tensor:
        last = self.last_item.index_select(0, users)
        return (pos == last).to(self.item_emb.weight.dtype) * self.pair_scale

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        if self._states is None:
            raise RuntimeError("auxiliary_losses needs a training-mode forward() first")
        states, inputs = self._states
        loss = next_item_loss(
            states,
            inputs,
            self.lengths,
            self.item_emb.weight,
            self.keys,
            self.num_negatives,
            generator,
        )
        return {"next_item": self.seq_weight * loss}

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return squared_norm(self.item_emb.weight, pos, neg)

    def __repr__(self) -> str:
        return f"SASRec(users={self.num_users}, items={self.num_items}, {self.encoder!r})"


class SequenceFusion(nn.Module):
    """Maps a graph user vector and a sequence user vector (``[U, d]`` each) to ``[U, d]``."""

    def forward(self, graph_user: Tensor, sequence_user: Tensor) -> Tensor:
        raise NotImplementedError


class SumFusion(SequenceFusion):
    r""":math:`\mathbf{u} = \mathbf{e}_u + \mathbf{s}_u`."""

    def forward(self, graph_user: Tensor, sequence_user: Tensor) -> Tensor:
        return graph_user + sequence_user


class GateFusion(SequenceFusion):
    r""":math:`\mathbf{g} = \sigma(\mathbf{W}[\mathbf{e}_u;\mathbf{s}_u] + \mathbf{b})`,
    :math:`\mathbf{u} = \mathbf{g} \odot \mathbf{e}_u + (1-\mathbf{g}) \odot \mathbf{s}_u`
    (one gate per dimension and user)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * dim, dim)

    def forward(self, graph_user: Tensor, sequence_user: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate(torch.cat([graph_user, sequence_user], -1)))
        return g * graph_user + (1 - g) * sequence_user


class ConcatFusion(SequenceFusion):
    r""":math:`\mathbf{u} = \mathbf{W}[\mathbf{e}_u;\mathbf{s}_u] + \mathbf{b}` (back to
    :math:`d`, so items keep their LightGCN vectors)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(2 * dim, dim)

    def forward(self, graph_user: Tensor, sequence_user: Tensor) -> Tensor:
        return self.project(torch.cat([graph_user, sequence_user], -1))


FUSIONS = ("sum", "gate", "concat")


def sequence_fusion(name: str, dim: int) -> SequenceFusion:
    """The fusion called ``name`` (``sum``, ``gate`` or ``concat``) for width ``dim``."""
    if name == "sum":
        return SumFusion()
    if name == "gate":
        return GateFusion(dim)
    if name == "concat":
        return ConcatFusion(dim)
    raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}; got {name!r}")


class SeqLightGCN(Recommender):
    r"""LightGCN's user vector fused with a causal self-attention state over the
    user's train history, read in LightGCN's item space.

    .. math::
        (\mathbf{E}_{\mathcal{U}}, \mathbf{E}_{\mathcal{I}}) = \operatorname{LightGCN}(
            \hat{\mathbf{A}}), \qquad
        \mathbf{H}_u = \operatorname{SeqEnc}(\mathbf{e}_{s_{u,1}}, \dots,
            \mathbf{e}_{s_{u,n_u}}), \qquad
        \hat y_{ui} = \operatorname{fuse}(\mathbf{e}_u, \mathbf{h}_{u,n_u})^\top \mathbf{e}_i,

    with :class:`~gnnrec.models.lightgcn.LightGCN`'s propagated embeddings
    :math:`\mathbf{e}`, a :class:`SequenceEncoder` over the user's
    time-ordered train items (most recent ``max_len``) whose inputs are the
    propagated item embeddings, and ``fusion`` one of :class:`SumFusion`,
    :class:`GateFusion`, :class:`ConcatFusion`. One propagation and one
    encoder pass per step. Trained by the configured loss on every pair
    (as LightGCN: the user vectors fit the train items) plus
    :func:`next_item_loss` of the encoder states against the propagated
    item embeddings (weight ``seq_weight``, ``train/next_item``), the term
    through which the encoder learns order. Users without train items get
    :math:`\operatorname{fuse}(\mathbf{e}_u, \mathbf{0})`.

    A composition of LightGCN (He et al., SIGIR 2020) and SASRec (Kang &
    McAuley, ICDM 2018) made for gnnrec; neither paper fuses the two. The
    encoder deviates from SASRec as :class:`SequenceEncoder` says.

    Args:
        backbone: the LightGCN that propagates the graph.
        sequences: ``[num_users, L]`` right-padded train items in time order.
        lengths: ``[num_users]`` sequence lengths.
        keys: :func:`interaction_keys` of the train log.
        fusion: ``sum``, ``gate`` or ``concat``.
        max_len: longest sequence kept.
        num_blocks: self-attention blocks.
        heads: attention heads (must divide the LightGCN output width).
        dropout: the encoder's dropout probability.
        num_negatives: negatives per position in :func:`next_item_loss`.
        seq_weight: weight of :func:`next_item_loss`.
    """

    sequences: Tensor
    lengths: Tensor
    keys: Tensor

    def __init__(
        self,
        backbone: LightGCN,
        sequences: Tensor,
        lengths: Tensor,
        keys: Tensor,
        fusion: str = "gate",
        max_len: int = 50,
        num_blocks: int = 1,
        heads: int = 1,
        dropout: float = 0.2,
        num_negatives: int = 1,
        seq_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_negatives = check_int("num_negatives", num_negatives)
        self.seq_weight = _check_weight(seq_weight)
        self.backbone = backbone
        self.num_users, self.num_items = backbone.num_users, backbone.num_items
        dim = backbone.combine.out_dim(backbone.embedding.embedding_dim)
        self.encoder = SequenceEncoder(dim, max_len, num_blocks, heads, dropout)
        self.fusion_name = fusion
        self.fusion = sequence_fusion(fusion, dim)
        self.register_buffer("sequences", sequences, persistent=False)
        self.register_buffer("lengths", lengths, persistent=False)
        self.register_buffer("keys", keys, persistent=False)
        self._states: tuple[Tensor, Tensor, Tensor] | None = None

    @classmethod
    def from_graph(
        cls,
        graph: RecGraph,
        fusion: str = "gate",
        max_len: int = 50,
        num_blocks: int = 1,
        heads: int = 1,
        dropout: float = 0.2,
        num_negatives: int = 1,
        seq_weight: float = 1.0,
        **lightgcn,
    ) -> SeqLightGCN:
        """Build over a training graph: ``lightgcn`` keys go to
        :meth:`LightGCN.from_graph <gnnrec.models.lightgcn.LightGCN.from_graph>`."""
        log = _require_log(graph, "seqgcn")
        sequences, lengths = user_sequences(log, graph.num_users, max_len)
        keys = interaction_keys(log, graph.num_items)
        device = graph.adjacency.device
        return cls(
            LightGCN.from_graph(graph, **lightgcn),
            sequences.to(device),
            lengths.to(device),
            keys.to(device),
            fusion=fusion,
            max_len=max_len,
            num_blocks=num_blocks,
            heads=heads,
            dropout=dropout,
            num_negatives=num_negatives,
            seq_weight=seq_weight,
        )

    def reset_parameters(self) -> None:
        self.backbone.reset_parameters()
        self.encoder.reset_parameters()
        for module in self.fusion.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def forward(self) -> tuple[Tensor, Tensor]:
        graph_users, items = split_nodes(self.backbone.propagate(), self.num_users, self.num_items)
        inputs = gather_items(items, self.sequences)
        states = self.encoder(inputs, self.lengths)
        self._states = (states, inputs, items) if self.training else None
        return self.fusion(graph_users, state_at(states, self.lengths - 1)), items

    def auxiliary_losses(
        self, users: Tensor, pos: Tensor, neg: Tensor, generator: torch.Generator
    ) -> dict[str, Tensor]:
        if self._states is None:
            raise RuntimeError("auxiliary_losses needs a training-mode forward() first")
        states, inputs, items = self._states
        loss = next_item_loss(
            states, inputs, self.lengths, items, self.keys, self.num_negatives, generator
        )
        return {"next_item": self.seq_weight * loss}

    def regularization(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return self.backbone.regularization(users, pos, neg)

    def __repr__(self) -> str:
        return f"SeqLightGCN({self.backbone!r}, {self.encoder!r}, fusion={self.fusion_name})"


def _check_weight(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"seq_weight must be a number >= 0, got {value!r}")
    return float(value)


def _require_log(graph: RecGraph, name: str) -> TrainLog:
    if graph.log is None:
        raise ValueError(
            f"model {name} reads each user's train history in time order from the graph's "
            "train log (RecGraph.log), but this graph has none; build it with "
            "gnnrec.graph.build.build_graph"
        )
    return graph.log
