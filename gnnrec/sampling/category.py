"""Category-aware negatives: from the positive's category, from any other category, or
a mixture of the positive's category and uniform (DGCN's category-boosted sampling)."""

from __future__ import annotations

import torch
from torch import Tensor

from gnnrec.errors import ConfigError
from gnnrec.sampling.base import NegativeSampler, TrainingPairs, uniform_items


def _require_categories(data: TrainingPairs, name: str) -> tuple[Tensor, Tensor]:
    if not data.has_categories:
        raise ConfigError(
            f"sampler={name} needs item categories, but {data.dataset} has none; "
            "use sampler=uniform, sampler=popularity or sampler=hard"
        )
    assert data.category_indptr is not None and data.category_indices is not None
    return data.category_indptr, data.category_indices


class InCategorySampler(NegativeSampler):
    r"""Negatives that share a category with the positive (hard, same-category negatives).

    For a positive item :math:`i` one of its categories :math:`c` is picked
    uniformly, then :math:`j` uniformly among the items of :math:`c` that the
    user has not interacted with. Teaches the model to rank *within* a
    category rather than by category alone (the category-boosted negatives
    of DGCN, Zheng et al. WWW 2021, draw from the same pool). A positive
    without a category, or whose category holds nothing but the user's own
    training items, falls back to a uniform negative; ``fallbacks`` counts
    those rows.
    """

    name = "in_category"

    def __init__(self, data: TrainingPairs, num_negatives: int = 1, max_rounds: int = 20) -> None:
        super().__init__(data, num_negatives, max_rounds)
        indptr, indices = _require_categories(data, self.name)
        self.item_indptr = indptr
        self.item_categories = indices
        # category -> items (the transpose), sorted by category then item
        rows = torch.repeat_interleave(
            torch.arange(data.num_items, device=indptr.device), indptr.diff()
        )
        order = torch.argsort(indices * data.num_items + rows)
        self.members = rows[order]
        counts = torch.bincount(indices, minlength=data.num_categories)
        self.cat_indptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        self.fallbacks = 0

    def categories_of(self, items: Tensor, generator: torch.Generator | None) -> Tensor:
        """One category per item, uniformly among its categories (-1 for none)."""
        start, count = (
            self.item_indptr[items],
            self.item_indptr[items + 1] - self.item_indptr[items],
        )
        u = torch.rand(len(items), device=items.device, generator=generator)
        offset = (u * count).long().clamp_(max=(count - 1).clamp(min=0))
        has = count > 0
        cats = torch.full_like(items, -1)
        cats[has] = self.item_categories[(start + offset)[has]]
        return cats

    def draw(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        cats = self.categories_of(pos, generator)
        has = cats >= 0
        safe = cats.clamp(min=0)
        start = self.cat_indptr[safe]
        size = self.cat_indptr[safe + 1] - start
        u = torch.rand(len(users), device=users.device, generator=generator)
        pick = start + (u * size).long().clamp_(max=(size - 1).clamp(min=0))
        # a positive without a category gets a uniform candidate (a fallback)
        out = uniform_items(len(users), self.num_items, users, generator)
        out[has] = self.members[pick[has]]
        self.fallbacks += int((~has).sum())
        return out

    def fallback(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        self.fallbacks += len(users)
        return self.uniform_valid(users, pos, generator)


class CrossCategorySampler(NegativeSampler):
    """Negatives from categories the positive does not carry.

    :math:`j` is drawn uniformly among the user's non-interacted items that
    share no category with the positive :math:`i` (items without a category
    share none). Pushes apart items of different categories: the
    complement of :class:`InCategorySampler`, for ablations of how
    category structure in the negatives shapes cross-category recall.
    Rows without such an item after the redraw rounds fall back to a
    uniform negative (``fallbacks`` counts them).
    """

    name = "cross_category"

    def __init__(self, data: TrainingPairs, num_negatives: int = 1, max_rounds: int = 50) -> None:
        super().__init__(data, num_negatives, max_rounds)
        self.item_indptr, self.item_categories = _require_categories(data, self.name)
        self.category_keys = _item_category_keys(
            self.item_indptr, self.item_categories, data.num_categories
        )
        self.num_categories = data.num_categories
        self.fallbacks = 0

    def acceptable(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return ~self.shares_category(pos, neg)

    def shares_category(self, a: Tensor, b: Tensor) -> Tensor:
        """Row-wise test whether items ``a`` and ``b`` (``[M]`` each) share a category.

        Every category of ``a[k]`` (padded to the largest label count) is
        looked up among ``b[k]``'s by binary search in the sorted
        ``item * C + category`` keys.
        """
        count_a = self.item_indptr[a + 1] - self.item_indptr[a]
        width = int(count_a.max()) if len(a) else 0
        if width == 0:
            return torch.zeros_like(a, dtype=torch.bool)
        slot = torch.arange(width, device=a.device)
        valid = slot.unsqueeze(0) < count_a.unsqueeze(1)  # [M, W]
        at = (self.item_indptr[a].unsqueeze(1) + slot).clamp_(max=len(self.item_categories) - 1)
        query = b.unsqueeze(1) * self.num_categories + self.item_categories[at]
        keys = self.category_keys
        found = torch.searchsorted(keys, query).clamp_(max=len(keys) - 1)
        return ((keys[found] == query) & valid).any(1)

    def fallback(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        self.fallbacks += len(users)
        return self.uniform_valid(users, pos, generator)


def _item_category_keys(indptr: Tensor, indices: Tensor, num_categories: int) -> Tensor:
    """Sorted ``item * C + category`` keys of the item → category CSR matrix."""
    items = torch.repeat_interleave(
        torch.arange(len(indptr) - 1, device=indptr.device), indptr.diff()
    )
    return torch.sort(items * num_categories + indices).values


class CategoryBoostedSampler(InCategorySampler):
    r"""DGCN's category-boosted negatives: a mixture of same-category and uniform negatives.

    Each negative is, with probability :math:`\beta`, drawn as by
    :class:`InCategorySampler` (uniformly among the non-interacted items of
    one of the positive's categories: similar items the user did not pick),
    and otherwise uniformly among all the user's non-interacted items:

    .. math::
        P(j \mid u, i) = \beta\, \frac{[j \in \mathcal{I}_c \setminus \mathcal{N}_u]}
            {|\mathcal{I}_c \setminus \mathcal{N}_u|}
            + (1 - \beta)\, \frac{[j \notin \mathcal{N}_u]}{|\mathcal{I} \setminus \mathcal{N}_u|},
        \qquad c \sim \mathrm{U}(\mathcal{C}_i).

    The coin is flipped once per negative and kept while training positives
    are redrawn, so the mixture weights stay :math:`\beta` and
    :math:`1-\beta` after rejection. A boosted row whose positive has no
    category, or whose category holds nothing but the user's own items, gets a
    uniform negative (``fallbacks`` counts those rows), as in the reference
    code. The reference draws among the category's non-interacted items
    directly; here the draw is rejection-sampled, with more rounds than
    :class:`InCategorySampler` (a user holding 90% of a category still finds
    its last item with probability :math:`1 - 0.9^{100}`).

    Zheng et al., "DGCN: Diversified Recommendation with Graph Convolutional
    Networks", WWW 2021 (``SimPointSampler`` in
    tsinghua-fib-lab/DGCN; :math:`\beta = 0.08` in its Taobao configuration).
    Deviation: items may carry several categories; one of the positive's is
    picked uniformly per negative (the reference has one category per item).

    Args:
        data: the training pairs (with item categories).
        num_negatives: negatives per positive.
        beta: probability :math:`\beta \in [0, 1]` of a same-category negative.
        max_rounds: redraw rounds of the same-category draw before a uniform
            fallback.
    """

    name = "category_boosted"

    def __init__(
        self,
        data: TrainingPairs,
        num_negatives: int = 1,
        beta: float = 0.08,
        max_rounds: int = 100,
    ) -> None:
        super().__init__(data, num_negatives, max_rounds)
        ok = isinstance(beta, int | float) and not isinstance(beta, bool)
        if not ok or not 0 <= beta <= 1:
            raise ConfigError(f"sampler.beta must be a probability in [0, 1], got {beta!r}")
        self.beta = float(beta)

    def draw_valid(self, users: Tensor, pos: Tensor, generator: torch.Generator | None) -> Tensor:
        boosted = torch.rand(len(users), device=users.device, generator=generator) < self.beta
        neg = torch.empty_like(pos)
        same = boosted.nonzero().squeeze(1)
        other = (~boosted).nonzero().squeeze(1)
        if len(same):
            neg[same] = super().draw_valid(users[same], pos[same], generator)
        if len(other):
            neg[other] = self.uniform_valid(users[other], pos[other], generator)
        return neg

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_negatives={self.num_negatives}, beta={self.beta})"
