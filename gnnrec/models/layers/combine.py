r"""Layer combination: how a stack of graph layers becomes one representation.

Every stacked model produces the per-layer node matrices
:math:`\mathbf{H}^{(0)}, \dots, \mathbf{H}^{(K)}` (``[N, d]`` each, layer 0
the free embeddings) and hands them to one of these modules, picked by name
with :func:`layer_combination` (``model.combine=mean|weighted|learned|last|
concat|attention``), in the manner of PyG's ``jk`` switch of ``BasicGNN``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

COMBINATIONS = ("mean", "weighted", "learned", "last", "concat", "attention")


class LayerCombination(nn.Module):
    """Maps ``K + 1`` layer outputs ``[N, d]`` to one ``[N, out_dim(d)]`` matrix."""

    def out_dim(self, dim: int) -> int:
        """Width of the combined representation for layers of width ``dim``."""
        return dim

    def reset_parameters(self) -> None:
        """Re-initialise learned weights (none by default)."""

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        raise NotImplementedError


class WeightedSum(LayerCombination):
    r""":math:`\mathbf{H} = \sum_{k=0}^{K} \alpha_k \mathbf{H}^{(k)}` with fixed weights.

    ``alpha=None`` gives :math:`\alpha_k = 1/(K+1)`, LightGCN's layer mean.
    """

    alpha: Tensor

    def __init__(self, num_layers: int, alpha: Sequence[float] | None = None) -> None:
        super().__init__()
        if alpha is None:
            alpha = [1.0 / (num_layers + 1)] * (num_layers + 1)
        if len(alpha) != num_layers + 1:
            raise ValueError(f"alpha needs {num_layers + 1} weights, got {len(alpha)}")
        self.register_buffer("alpha", torch.tensor(list(alpha), dtype=torch.float32))

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        out = self.alpha[0] * layers[0]
        for k in range(1, len(layers)):
            out = out + self.alpha[k] * layers[k]
        return out


class LearnedWeights(LayerCombination):
    r""":math:`\mathbf{H} = \sum_k \operatorname{softmax}(\mathbf{w})_k \mathbf{H}^{(k)}`.

    One learned logit per layer, shared by all nodes, initialised at zero
    (so training starts from the layer mean).
    """

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_layers + 1))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.logits)

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        weights = torch.softmax(self.logits, dim=0)
        out = weights[0] * layers[0]
        for k in range(1, len(layers)):
            out = out + weights[k] * layers[k]
        return out


class Last(LayerCombination):
    r""":math:`\mathbf{H} = \mathbf{H}^{(K)}` (plain stacked GCN)."""

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        return layers[-1]


class Concat(LayerCombination):
    r""":math:`\mathbf{H} = \mathbf{H}^{(0)} \Vert \cdots \Vert \mathbf{H}^{(K)}` (NGCF)."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.num_layers = num_layers

    def out_dim(self, dim: int) -> int:
        return dim * (self.num_layers + 1)

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        return torch.cat(list(layers), dim=1)


class LayerAttention(LayerCombination):
    r"""Per-node attention over layers.

    .. math::
        s_{v,k} = \mathbf{q}^\top \tanh(\mathbf{W}\mathbf{h}^{(k)}_v + \mathbf{b}),
        \qquad \beta_{v,k} = \operatorname{softmax}_k(s_{v,k}),
        \qquad \mathbf{h}_v = \sum_k \beta_{v,k} \mathbf{h}^{(k)}_v,

    the additive attention over layer outputs used by layer-attention
    recommenders (e.g. DGRec's layer attention; the form of Bahdanau-style
    attention pooling). ``W`` is ``[d, d]``, ``q`` is ``[d]``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.query = nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        nn.init.normal_(self.query, std=self.proj.in_features**-0.5)

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        stacked = torch.stack(list(layers), dim=1)  # [N, K+1, d]
        scores = torch.tanh(self.proj(stacked)) @ self.query  # [N, K+1]
        beta = torch.softmax(scores, dim=1)
        return (beta.unsqueeze(-1) * stacked).sum(1)


def layer_combination(
    name: str, num_layers: int, dim: int, alpha: Sequence[float] | None = None
) -> LayerCombination:
    """The combination called ``name`` for ``num_layers`` layers of width ``dim``.

    ``alpha`` (fixed weights) is only valid with ``weighted`` (``mean`` is
    ``weighted`` with uniform weights).
    """
    if alpha is not None and name not in ("weighted", "mean"):
        raise ValueError(f"alpha only applies to combine='weighted', not {name!r}")
    if name in ("mean", "weighted"):
        return WeightedSum(num_layers, alpha if name == "weighted" else None)
    if name == "learned":
        return LearnedWeights(num_layers)
    if name == "last":
        return Last()
    if name == "concat":
        return Concat(num_layers)
    if name == "attention":
        return LayerAttention(dim)
    raise ValueError(f"combine must be one of {', '.join(COMBINATIONS)}; got {name!r}")
