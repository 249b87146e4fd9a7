"""Shared layers: the sparse product's custom backward equals autograd's."""

from __future__ import annotations

import pytest
import torch

from gnnrec.models.layers.propagate import propagate_layers, spmm, transpose_csr


def random_sparse(n: int, m: int, symmetric: bool, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(n, m, generator=g) * (torch.rand(n, m, generator=g) < 0.3)
    if symmetric:
        dense = dense + dense.T
    return dense.to_sparse_csr()


@pytest.mark.parametrize("symmetric", [True, False])
def test_spmm_gradient_equals_dense_autograd(symmetric):
    a = random_sparse(7, 7, symmetric)
    x = torch.randn(7, 3, requires_grad=True)
    weights = torch.randn(7, 3)
    a_t = None if symmetric else transpose_csr(a)
    (spmm(a, x, a_t) * weights).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    (a.to_dense() @ x * weights).sum().backward()
    assert torch.allclose(ours, x.grad, atol=1e-6)
    assert torch.allclose(spmm(a, x, a_t), a.to_dense() @ x, atol=1e-6)


def test_spmm_without_the_transpose_of_an_asymmetric_matrix_is_wrong():
    # guards the contract: a_t=None means "symmetric"; an asymmetric matrix needs its transpose
    a = random_sparse(6, 6, symmetric=False, seed=1)
    x = torch.randn(6, 2, requires_grad=True)
    spmm(a, x).sum().backward()
    assert not torch.allclose(x.grad, a.to_dense().T @ torch.ones(6, 2))


def test_propagate_layers_powers_and_gradients():
    a = random_sparse(5, 5, symmetric=True, seed=2)
    x = torch.randn(5, 4, requires_grad=True)
    layers = propagate_layers(a, x, 3)
    dense = a.to_dense()
    assert torch.allclose(layers[3], dense @ dense @ dense @ x, atol=1e-5)
    torch.stack(layers).sum().backward()
    grad = x.grad.clone()
    x.grad = None
    d = x
    total = x.sum()
    for _ in range(3):
        d = dense @ d
        total = total + d.sum()
    total.backward()
    assert torch.allclose(grad, x.grad, atol=1e-5)
