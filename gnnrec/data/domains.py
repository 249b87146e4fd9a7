"""Pseudo-domains made from item categories, for cross-domain experiments on one-shop logs.

A real cross-domain log names each interaction's shop or platform
(``interactions.files_as: domain`` or a mapped ``domain`` column). Where no
such log is at hand, a single-shop log can be cut in two by item category:
:func:`category_domains` labels each interaction ``inside`` when its item
carries one of the given categories and ``outside`` otherwise, e.g.
MovieLens-100K's dramas against every other film
(``conf/dataset/ml-100k-domains.yaml``). These are pseudo-domains: the same
users rate both kinds of film on one site, so transfer between them is
easier than between shops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.load import load_dataset
from gnnrec.errors import ConfigError


def category_domains(
    dataset: InteractionDataset,
    categories: Sequence[str],
    inside: str,
    outside: str = "other",
) -> np.ndarray:
    """``[num_interactions]`` domain label of each interaction, from its item's categories.

    An interaction is in domain ``inside`` when its item carries at least one
    of ``categories``, else in ``outside`` (items without category included).

    Raises:
        ConfigError: an unknown category, no category, ``inside == outside``,
            or a cut that leaves one domain without interactions.
    """
    names = [str(c) for c in dataset.category_names]
    wanted = [str(c) for c in ([categories] if isinstance(categories, str) else categories)]
    if not wanted:
        raise ConfigError("pseudo-domains need at least one category for the 'inside' domain")
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ConfigError(
            f"dataset {dataset.name!r} has no category {', '.join(map(repr, unknown))}; "
            f"its categories: {', '.join(names) or 'none'}"
        )
    if str(inside) == str(outside):
        raise ConfigError(f"the two pseudo-domains need different names, got {inside!r} twice")
    columns = [names.index(c) for c in wanted]
    has = np.asarray(dataset.item_categories[:, columns].sum(axis=1)).ravel() > 0
    label = np.where(has[dataset.items], str(inside), str(outside))
    for domain in (str(inside), str(outside)):
        if not (label == domain).any():
            raise ConfigError(
                f"no interaction of dataset {dataset.name!r} falls in pseudo-domain {domain!r} "
                f"(categories {wanted}); choose other categories"
            )
    return label


def with_category_domains(
    dataset: InteractionDataset,
    categories: Sequence[str],
    inside: str,
    outside: str = "other",
    column: str = "domain",
    name: str | None = None,
) -> InteractionDataset:
    """``dataset`` with :func:`category_domains` as ``extras[column]`` (and renamed).

    Raises:
        ConfigError: the dataset already has a ``column`` (a real domain
            column is not overwritten), or see :func:`category_domains`.
    """
    if column in dataset.extras:
        raise ConfigError(
            f"dataset {dataset.name!r} already has a per-interaction '{column}' column; "
            "use it directly instead of pseudo-domains"
        )
    label = category_domains(dataset, categories, inside, outside)
    return replace(
        dataset,
        name=dataset.name if name is None else str(name),
        extras={**dataset.extras, column: label},
        preprocessing_log=dataset.preprocessing_log
        + f"\npseudo-domains '{column}': {inside} = items in {list(categories)}, "
        f"{outside} = the others ({int((label == str(inside)).sum())} and "
        f"{int((label == str(outside)).sum())} interactions)",
    )


def load_with_category_domains(
    source: Mapping[str, Any],
    categories: Sequence[str],
    inside: str,
    outside: str = "other",
    column: str = "domain",
    name: str | None = None,
) -> InteractionDataset:
    """:func:`gnnrec.data.load_dataset` of ``source`` (its keyword arguments),
    then :func:`with_category_domains`: the ``_target_`` of dataset configs
    with pseudo-domains. The processed-data cache is not used (building
    MovieLens-100K takes under a second)."""
    dataset = load_dataset(**dict(source))
    return with_category_domains(dataset, categories, inside, outside, column, name)
