"""Row gathers shared by the metric modules."""

from __future__ import annotations

import torch
from torch import Tensor


def take_rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for a 2-D ``table`` and any-shaped ``index`` (no -1).

    ``index_select`` on the flattened index is an order of magnitude faster
    on CPU than advanced indexing with a 2-D index.
    """
    return torch.index_select(table, 0, index.reshape(-1)).view(*index.shape, table.shape[1])
