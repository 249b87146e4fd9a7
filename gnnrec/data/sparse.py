"""Sparse-matrix helpers shared by the data layer and the graph builder."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def binary_csr(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype: type = np.float32
) -> sp.csr_matrix:
    """A 0/1 CSR matrix with ones at ``(rows[k], cols[k])``; repeated pairs count once.

    Indices are sorted within each row, as every consumer (torch CSR tensors,
    binary searches) expects.
    """
    m = sp.csr_matrix((np.ones(len(rows), dtype=dtype), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1
    m.sort_indices()
    return m
