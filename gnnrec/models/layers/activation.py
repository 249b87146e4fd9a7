"""Activations between stacked layers, chosen by name (``model.activation=``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def _identity(x: Tensor) -> Tensor:
    return x


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "none": _identity,
}


def resolve_activation(
    name: str, choices: Sequence[str] = tuple(ACTIVATIONS)
) -> Callable[[Tensor], Tensor]:
    """The activation called ``name``, which must be one of ``choices``."""
    if name not in choices:
        raise ValueError(f"activation must be one of {', '.join(choices)}; got {name!r}")
    return ACTIVATIONS[name]
