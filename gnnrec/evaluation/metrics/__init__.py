"""Pure metric functions over tensors; each docstring gives its formula.

- :mod:`.accuracy`: ``[U, K]`` hits → Recall, NDCG, Precision, Hit, MRR, MAP, F1;
- :mod:`.category`: list categories → coverage, entropy, Gini, new-category
  items, category precision/recall/F1, calibration, per-category recall;
- :mod:`.diversity`: intra-list diversity (category Jaccard, embedding cosine);
- :mod:`.catalog`: exposure and popularity → item coverage, Gini, entropy,
  average popularity, tail share, novelty, popularity buckets.
"""

from gnnrec.evaluation.metrics.accuracy import (
    average_precision,
    f1,
    hit_rate,
    mrr,
    ndcg,
    precision,
    recall,
)
from gnnrec.evaluation.metrics.catalog import (
    average_popularity,
    category_share,
    category_spread,
    exposure_entropy,
    gini_index,
    item_coverage,
    item_exposure,
    novelty,
    popularity_buckets,
    popularity_order,
    tail_items,
    tail_percentage,
)
from gnnrec.evaluation.metrics.category import (
    category_counts,
    category_coverage,
    category_distribution,
    category_entropy,
    category_f1,
    category_gini,
    category_precision,
    category_recall,
    kl_divergence,
    list_categories,
    miscalibration,
    novel_items,
    recall_per_category,
)
from gnnrec.evaluation.metrics.diversity import (
    intra_list_diversity,
    intra_list_diversity_cosine,
    jaccard_distances,
    mean_pairwise,
    unit_rows,
)

__all__ = [
    "average_popularity",
    "average_precision",
    "category_counts",
    "category_coverage",
    "category_distribution",
    "category_entropy",
    "category_f1",
    "category_gini",
    "category_precision",
    "category_recall",
    "category_share",
    "category_spread",
    "exposure_entropy",
    "f1",
    "gini_index",
    "hit_rate",
    "intra_list_diversity",
    "intra_list_diversity_cosine",
    "item_coverage",
    "item_exposure",
    "jaccard_distances",
    "kl_divergence",
    "list_categories",
    "mean_pairwise",
    "miscalibration",
    "mrr",
    "ndcg",
    "novel_items",
    "novelty",
    "popularity_buckets",
    "popularity_order",
    "precision",
    "recall",
    "recall_per_category",
    "tail_items",
    "tail_percentage",
    "unit_rows",
]
