"""Sampled evaluation: the held-out item ranked among N sampled negatives.

The protocol of many cross-domain papers (DisenCDR: 999 uniformly sampled
items, HR@10 and NDCG@10), offered for comparison with them only. Sampled
metrics are not full-ranking metrics: they can order models differently
from a ranking over the whole catalogue (Krichene & Rendle, "On Sampled
Metrics for Item Recommendation", KDD 2020), which is why gnnrec reports
full ranking by default and labels every sampled value ``sampled<N>_<how>``
(``test/sampled999_uniform/hit@10``).

The protocol here, per user with held-out items in a part:

- ``N`` negatives are drawn once per user, without replacement, among the
  ranked items (the target domain's, with ``target_domain``) the user has no
  interaction with in any part or behaviour; ``uniform`` draws each such item
  with equal probability, ``popularity`` in proportion to its number of
  training interactions (items never trained on are not drawn);
- each held-out item is ranked among the same ``N`` negatives: its rank is
  the number of negatives scoring higher, plus those scoring the same with a
  smaller item id (the tie rule of full ranking);
- a user's value is the mean over their held-out items, and the reported
  value the mean over users.

Draws come from a counter-based hash of (seed, user, item) (:func:`uniform_keys`),
so they depend neither on the chunking nor on the device.
"""

from __future__ import annotations

import torch
from torch import Tensor

SAMPLERS = ("uniform", "popularity")

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit pattern as the int64 that holds it."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)
_USER = _signed(0xD1B54A32D192ED03)
_SEED = _signed(0xA24BAED4963EE407)


def _shift_right(x: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(x: Tensor) -> Tensor:
    """SplitMix64's finaliser (Steele, Lea & Flood 2014) on int64, wrapping."""
    z = x + _GOLDEN
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def uniform_keys(seed: int, users: Tensor, items: Tensor) -> Tensor:
    r"""``[B, I]`` float64 draws in (0, 1), one per (user, item), fixed by ``seed``.

    :math:`u = (\mathrm{splitmix64}(s \cdot c_1 + u \cdot c_2 + i) \gg 11 + \tfrac12) / 2^{53}`.
    """
    base = _signed(seed * _SEED) + users.to(torch.int64).unsqueeze(1) * _USER
    z = splitmix64(base + items.to(torch.int64).unsqueeze(0))
    return (_shift_right(z, 11).to(torch.float64) + 0.5) * 2.0**-53


def sample_negatives(
    seed: int,
    users: Tensor,
    num_items: int,
    excluded: Tensor,
    num_negatives: int,
    weights: Tensor | None = None,
) -> Tensor:
    """``[B, N]`` negatives per user, drawn without replacement.

    Weighted sampling without replacement by exponential keys
    (Efraimidis & Spirakis 2006): item ``i`` gets ``log(u_i) / w_i`` and the
    ``N`` largest keys win; with ``weights=None`` every ``w_i = 1`` (uniform).

    Args:
        seed: the draws' seed.
        users: ``[B]`` user ids.
        num_items: items in the catalogue.
        excluded: ``[B, I]`` bool, items never drawn for that user.
        num_negatives: ``N``.
        weights: ``[I]`` non-negative draw weights (0: never drawn); None: uniform.

    Raises:
        ValueError: a user has fewer than ``N`` items to draw from.
    """
    items = torch.arange(num_items, device=users.device)
    keys = uniform_keys(seed, users, items).log_()
    if weights is not None:
        keys = keys / weights.to(torch.float64).unsqueeze(0)  # w = 0: -inf, never drawn
    keys.masked_fill_(excluded, float("-inf"))
    best = torch.topk(keys, num_negatives, dim=1)
    short = torch.isinf(best.values[:, -1])
    if bool(short.any()):
        user = int(users[short.nonzero()[0, 0]])
        available = int(torch.isfinite(keys[short.nonzero()[0, 0]]).sum())
        raise ValueError(
            f"sampled evaluation: user {user} has only {available} items to draw "
            f"{num_negatives} negatives from; lower eval.sampled.negatives"
        )
    return best.indices


def sampled_ranks(
    pos_scores: Tensor, pos_items: Tensor, neg_scores: Tensor, neg_items: Tensor
) -> Tensor:
    r"""0-based rank of each held-out item among its negatives.

    .. math::
        r = \sum_{j=1}^{N} \mathbb{1}[s_j > s_+] + \mathbb{1}[s_j = s_+ \wedge i_j < i_+]

    Args:
        pos_scores, pos_items: ``[P]`` the held-out items' scores and ids.
        neg_scores, neg_items: ``[P, N]`` their negatives' scores and ids.
    """
    pos = pos_scores.unsqueeze(1)
    ahead = (neg_scores > pos) | ((neg_scores == pos) & (neg_items < pos_items.unsqueeze(1)))
    return ahead.sum(1)


def sampled_hit(ranks: Tensor, k: int) -> Tensor:
    r"""HR@K of one held-out item: :math:`\mathbb{1}[r < K]` (``r`` 0-based)."""
    return (ranks < k).to(torch.float64)


def sampled_ndcg(ranks: Tensor, k: int) -> Tensor:
    r"""NDCG@K of one held-out item: :math:`\mathbb{1}[r < K] / \log_2(r + 2)`
    (one relevant item, so the ideal DCG is 1)."""
    r = ranks.to(torch.float64)
    return torch.where(r < k, 1.0 / torch.log2(r + 2.0), torch.zeros_like(r))


def label(num_negatives: int, sampler: str) -> str:
    """The key prefix of sampled metrics, e.g. ``sampled999_uniform``."""
    return f"sampled{num_negatives}_{sampler}"
