"""Pure metric functions over tensors; each docstring gives its formula."""

from gnnrec.evaluation.metrics.accuracy import hit_rate, ndcg, precision, recall
from gnnrec.evaluation.metrics.catalog import item_coverage
from gnnrec.evaluation.metrics.category import (
    category_counts,
    category_coverage,
    category_entropy,
    intra_list_diversity,
    list_categories,
    novel_items,
)

__all__ = [
    "category_counts",
    "category_coverage",
    "category_entropy",
    "hit_rate",
    "intra_list_diversity",
    "item_coverage",
    "list_categories",
    "ndcg",
    "novel_items",
    "precision",
    "recall",
]
