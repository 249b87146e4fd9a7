"""Stacked graph-attention (GATv2) recommender over the user–item(–category) graph."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch_geometric.nn import GATv2Conv, MessagePassing

from gnnrec.models.base import check_heads, check_int
from gnnrec.models.conv import ConvStackRec
from gnnrec.models.layers.dropout import check_probability


class GATRec(ConvStackRec):
    r"""Stacked GATv2 layers with LightGCN-style layer combination.

    .. math::
        \mathbf{h}_v^{(l+1)} = \sigma\Big(\sum_{u \in \mathcal{N}(v) \cup \{v\}}
            \alpha^{(l)}_{vu} \mathbf{\Theta}_t^{(l)} \mathbf{h}_u^{(l)}
            + \mathbf{b}^{(l)}\Big),\quad
        \alpha^{(l)}_{vu} = \operatorname{softmax}_u\big(\mathbf{a}^\top
            \operatorname{LeakyReLU}(\mathbf{\Theta}_s^{(l)}\mathbf{h}_v
            + \mathbf{\Theta}_t^{(l)}\mathbf{h}_u)\big)

    per head (PyG ``GATv2Conv``; the ``heads`` outputs of width
    :math:`d/\text{heads}` are concatenated back to :math:`d`, so
    ``embedding_dim`` must be divisible by ``heads``). With the defaults
    :math:`\sigma` is ELU between layers and the identity after the last, and
    :math:`\mathbf{e}_v = \frac{1}{L+1}\sum_{l=0}^{L} \mathbf{h}_v^{(l)}`,
    :math:`\hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`, with
    :math:`\mathbf{h}^{(0)}` free ID embeddings.

    Brody, Alon & Yahav, "How Attentive are Graph Attention Networks?",
    ICLR 2022 (GATv2). Deviations: the layer outputs are combined by
    ``combine`` (default: the LightGCN layer mean, He et al. SIGIR 2020;
    without it, stacked attention layers over-smooth and train far worse on
    implicit feedback; the paper uses the last layer, ``combine=last``), and
    inputs are free ID embeddings.

    Args:
        edge_index, num_nodes, num_users, num_items: as
            :class:`~gnnrec.models.conv.ConvStackRec`.
        heads: attention heads per layer (must divide ``embedding_dim``).
        attention_dropout: dropout on the attention coefficients (training only).
        self_loops: attend to the node itself (:math:`\{v\}` in the sum).
        **stack: the switches of :class:`~gnnrec.models.conv.ConvStackRec`
            (``embedding_dim``, ``num_layers``, ``combine``, ``alpha``, ``activation``,
            ``dropout`` on features between layers, ``edge_dropout``,
            ``init_std``).
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        num_users: int,
        num_items: int,
        heads: int = 2,
        attention_dropout: float = 0.0,
        self_loops: bool = True,
        **stack: Any,
    ) -> None:
        heads = check_int("heads", heads)
        attention_dropout = check_probability("attention_dropout", attention_dropout)
        self_loops = bool(self_loops)

        def conv(dim: int) -> MessagePassing:
            check_heads(dim, heads)
            return GATv2Conv(
                dim,
                dim // heads,
                heads=heads,
                concat=True,
                dropout=attention_dropout,
                add_self_loops=self_loops,
            )

        super().__init__(edge_index, num_nodes, num_users, num_items, conv, **stack)
        self.heads, self.self_loops = heads, self_loops
