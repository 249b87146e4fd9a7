"""Catalogue-level metrics (over all users' lists at once)."""

from __future__ import annotations

from torch import Tensor


def item_coverage(exposure: Tensor) -> float:
    r"""Item coverage@K :math:`= |\bigcup_u L_u^K| / |I|`.

    Args:
        exposure: ``[num_items]`` number of lists each item appears in.
    """
    return float((exposure > 0).float().mean())
