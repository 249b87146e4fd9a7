"""Apply RecBole 1.2.1's own metric classes to given top-K lists (peer environment only).

    .peer-env/bin/python benchmarks/peer/recbole_metrics.py lists.npz out.json

``lists.npz`` holds ``items`` ([U, K] int item ids, full lists), ``hits``
([U, K] bool), ``num_relevant`` ([U]), ``item_count`` ([num_items] training
popularity), ``num_items``, ``ks`` and ``tail_ratio``. The metrics run
through RecBole's ``calculate_metric`` on a ``DataStruct`` (the path its
Trainer uses), so its averaging and rounding (to 15 places here) apply.
``tests/test_eval_recbole.py`` compares the output with gnnrec's evaluator.

Inputs chosen to match gnnrec's conventions, stated in ``docs/metrics.md``:
``data.num_items`` is the catalogue size (RecBole itself passes its item
count, which includes the padding id 0), and ``data.count_items`` lists
every item, also those never seen in training (RecBole lists only seen
items, which changes which items form the tail).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

import numpy as np

# RecBole's Config sets these aliases for numpy >= 1.24; its metric classes use them.
for _name, _alias in (("float", np.float64), ("bool", np.bool_)):
    if not hasattr(np, _name):
        setattr(np, _name, _alias)

import torch  # noqa: E402
from recbole.evaluator import metrics as rm  # noqa: E402
from recbole.evaluator.collector import DataStruct  # noqa: E402

METRICS = (
    rm.Recall,
    rm.NDCG,
    rm.Precision,
    rm.Hit,
    rm.MRR,
    rm.MAP,
    rm.ItemCoverage,
    rm.GiniIndex,
    rm.ShannonEntropy,
    rm.AveragePopularity,
    rm.TailPercentage,
)


def main(inp: str, out: str) -> None:
    data = np.load(inp)
    ks = [int(k) for k in data["ks"]]
    config = {"topk": ks, "metric_decimal_place": 15, "tail_ratio": float(data["tail_ratio"])}
    hits = torch.from_numpy(data["hits"].astype(np.int64))
    pos_len = torch.from_numpy(data["num_relevant"].astype(np.int64)).unsqueeze(1)
    struct = DataStruct()
    struct.set("rec.topk", torch.cat([hits, pos_len], dim=1))
    struct.set("rec.items", torch.from_numpy(data["items"].astype(np.int64)))
    struct.set("data.num_items", int(data["num_items"]))
    struct.set("data.count_items", Counter(dict(enumerate(data["item_count"].tolist()))))
    results: dict[str, float] = {}
    for cls in METRICS:
        results.update({k: float(v) for k, v in cls(config).calculate_metric(struct).items()})
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
