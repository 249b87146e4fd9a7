"""A straightforward reference implementation of gnnrec's evaluation.

Written from the metric definitions in ``docs/metrics.md`` with Python sets,
loops and numpy only (no torch, nothing shared with ``gnnrec.evaluation``),
one user at a time. The tests compare the evaluator with it on random
datasets; ``benchmarks/eval_speed.py`` times it as the naive baseline.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

ACCURACY = ("recall", "ndcg", "precision", "hit", "mrr", "map", "f1")


def rank_user(scores: np.ndarray, excluded: set[int], k: int) -> list[int]:
    """Top-k items: higher score first, ties by smaller id, excluded items never."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order if int(i) not in excluded][:k]


def accuracy(ranked: list[int], relevant: set[int], k: int) -> dict[str, float]:
    """Accuracy metrics of one list at k (NaN when ``relevant`` is empty)."""
    if not relevant:
        return {name: math.nan for name in ACCURACY}
    top = ranked[:k]
    found = [i in relevant for i in top]
    n_found = sum(found)
    dcg = sum(1.0 / math.log2(r + 2) for r, f in enumerate(found) if f)
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(relevant))))
    first = next((r for r, f in enumerate(found) if f), None)
    ap, seen = 0.0, 0
    for r, f in enumerate(found):
        if f:
            seen += 1
            ap += seen / (r + 1)
    prec, rec = n_found / k, n_found / len(relevant)
    return {
        "recall": rec,
        "ndcg": dcg / idcg,
        "precision": prec,
        "hit": float(n_found > 0),
        "mrr": 0.0 if first is None else 1.0 / (first + 1),
        "map": ap / min(k, len(relevant)),
        "f1": 0.0 if n_found == 0 else 2 * prec * rec / (prec + rec),
    }


def gini(values: Sequence[float]) -> float:
    x = sorted(values)
    n, total = len(x), sum(x)
    if total == 0:
        return math.nan
    return sum((2 * (j + 1) - n - 1) * v for j, v in enumerate(x)) / (n * total)


def entropy(counts: Sequence[float]) -> float:
    total = sum(counts)
    if total == 0:
        return math.nan
    return -sum(c / total * math.log(c / total) for c in counts if c > 0)


def kl(p: np.ndarray, q: np.ndarray, alpha: float) -> float:
    if p.sum() == 0:
        return math.nan
    qt = (1 - alpha) * q + alpha * p
    return float(sum(pc * math.log(pc / qc) for pc, qc in zip(p, qt, strict=True) if pc > 0))


def spread_distribution(items: Sequence[int], cats: list[set[int]], num_categories: int):
    """Each categorised item spreads weight 1 evenly over its categories; normalised."""
    mass = np.zeros(num_categories)
    for i in items:
        for c in cats[i]:
            mass[c] += 1.0 / len(cats[i])
    return mass / mass.sum() if mass.sum() > 0 else mass


def mean_pairs(items: Sequence, dist: Callable) -> float:
    pairs = [(a, b) for x, a in enumerate(items) for b in items[x + 1 :]]
    if not pairs:
        return math.nan
    return sum(dist(a, b) for a, b in pairs) / len(pairs)


def jaccard(a: set[int], b: set[int]) -> float:
    union = a | b
    return 0.0 if not union else 1.0 - len(a & b) / len(union)


def nanmean(values: Sequence[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return sum(v) / len(v) if v else math.nan


def evaluate(
    split,
    score: Callable[[int], np.ndarray],
    part: str,
    ks: Sequence[int],
    *,
    user_hist_bins: Sequence[int] = (5, 20),
    item_pop_quantiles: Sequence[float] = (0.5, 0.8),
    tail_ratio: float = 0.2,
    alpha: float = 0.01,
    item_embeddings: np.ndarray | None = None,
    slices: bool = True,
    max_users: int | None = None,
):
    """Evaluate ``score(user) -> [num_items]`` on ``part``.

    Returns ``(metrics, per_user, per_category, topk)`` keyed like
    :class:`gnnrec.evaluation.EvalResult`. ``max_users`` stops after that
    many users (for timing only: catalogue metrics then cover those users).
    """
    ds = split.dataset
    n_users, n_items, n_cats = ds.num_users, ds.num_items, ds.num_categories
    ks = sorted(set(ks))
    k_max = min(max(ks), n_items)

    def user_sets(idx: np.ndarray) -> list[set[int]]:
        sets: list[set[int]] = [set() for _ in range(n_users)]
        for u, i in zip(ds.users[idx], ds.items[idx], strict=True):
            sets[int(u)].add(int(i))
        return sets

    train, valid, test = (user_sets(split.part(p)) for p in ("train", "valid", "test"))
    truth_sets = valid if part == "valid" else test
    history = Counter(int(u) for u in ds.users[split.train])
    ic = ds.item_categories.tocsr()
    cats = [set(ic.indices[ic.indptr[i] : ic.indptr[i + 1]].tolist()) for i in range(n_items)]
    top = ds.category_top_level
    far_on = n_cats > 0 and top is not None
    pop = np.zeros(n_items)
    for s in train:
        for i in s:
            pop[i] += 1
    by_pop = sorted(range(n_items), key=lambda i: (pop[i], i))
    position = {i: p for p, i in enumerate(by_pop)}
    tail = {i for i in range(n_items) if position[i] < max(1, int(n_items * tail_ratio))}
    edges = [int(n_items * q) for q in sorted(item_pop_quantiles)]
    n_buckets = len(edges) + 1
    bucket = {i: sum(position[i] >= e for e in edges) for i in range(n_items)}
    cuts = [0.0, *sorted(item_pop_quantiles), 1.0]
    bucket_labels = [f"pop_q{100 * a:g}-{100 * b:g}" for a, b in itertools.pairwise(cuts)]
    hist_labels, low = [], 0
    for e in user_hist_bins:
        hist_labels.append(f"hist_{low}-{e}")
        low = e + 1
    hist_labels.append(f"hist_{low}+")

    def group_of(u: int) -> int:
        return sum(history[u] > e for e in user_hist_bins)

    users = [u for u in range(n_users) if truth_sets[u]]
    if max_users is not None:
        users = users[:max_users]
    per_user: dict[str, list[float]] = {}
    novel_flag, far_flag = [], []
    exposure = {k: Counter() for k in ks}
    group_exposure = {k: [Counter() for _ in hist_labels] for k in ks}
    cat_recall: dict[int, list[list[float]]] = {k: [[] for _ in range(n_cats)] for k in ks}
    topk = []

    def put(key: str, value: float) -> None:
        per_user.setdefault(key, []).append(value)

    for u in users:
        excluded = train[u] | (valid[u] if part == "test" else set())
        ranked = rank_user(np.asarray(score(u), dtype=np.float64), excluded, k_max)
        topk.append(ranked + [-1] * (k_max - len(ranked)))
        rel = truth_sets[u]
        u_cats = set().union(*(cats[i] for i in train[u])) if train[u] else set()
        novel = {i for i in rel if cats[i] - u_cats}
        if far_on:
            u_tops = {int(top[c]) for c in u_cats}
            far = {i for i in rel if {int(top[c]) for c in cats[i]} - u_tops}
        test_cats = set().union(*(cats[i] for i in rel))
        p_hist = spread_distribution(sorted(train[u]), cats, n_cats)
        for k in ks:
            lst = ranked[:k]
            for name, v in accuracy(ranked, rel, k).items():
                put(f"{name}@{k}", v)
            if n_cats:
                put(f"cc_recall@{k}", accuracy(ranked, novel, k)["recall"])
                put(f"cc_ndcg@{k}", accuracy(ranked, novel, k)["ndcg"])
                if far_on:
                    put(f"far_recall@{k}", accuracy(ranked, far, k)["recall"])
                    put(f"far_ndcg@{k}", accuracy(ranked, far, k)["ndcg"])
                categorised = [i for i in lst if cats[i]]
                liked = [i for i in categorised if cats[i] & u_cats]
                cp = len(liked) / len(categorised) if categorised else math.nan
                list_cats = set().union(*(cats[i] for i in lst)) if lst else set()
                cr = len(list_cats & test_cats) / len(test_cats) if test_cats else math.nan
                put(f"cat_precision@{k}", cp)
                put(f"cat_recall@{k}", cr)
                if math.isnan(cp) or math.isnan(cr):
                    cf = math.nan
                else:
                    cf = 0.0 if cp + cr == 0 else 2 * cp * cr / (cp + cr)
                put(f"cat_f1@{k}", cf)
                counts = Counter(c for i in lst for c in cats[i])
                put(f"cat_coverage@{k}", float(len(counts)))
                put(f"cat_coverage_frac@{k}", len(counts) / n_cats)
                put(f"cat_entropy@{k}", entropy(list(counts.values())))
                put(f"cat_gini@{k}", gini([counts.get(c, 0) for c in range(n_cats)]))
                put(f"ild@{k}", mean_pairs(lst, lambda a, b: jaccard(cats[a], cats[b])))
                q = spread_distribution(lst, cats, n_cats)
                put(f"miscalibration@{k}", kl(p_hist, q, alpha))
                for c in range(n_cats):
                    rel_c = {i for i in rel if c in cats[i]}
                    if rel_c:
                        cat_recall[k][c].append(len(rel_c & set(lst)) / len(rel_c))
            if item_embeddings is not None:

                def cos_dist(a: int, b: int) -> float:
                    ea, eb = item_embeddings[a], item_embeddings[b]
                    na, nb = np.linalg.norm(ea), np.linalg.norm(eb)
                    if na == 0 or nb == 0:
                        return 1.0
                    return 1.0 - float(ea @ eb) / (na * nb)

                put(f"ild_cos@{k}", mean_pairs(lst, cos_dist))
            put(f"avg_pop@{k}", float(np.mean([pop[i] for i in lst])) if lst else math.nan)
            put(f"tail_pct@{k}", sum(i in tail for i in lst) / len(lst) if lst else math.nan)
            nov = [-math.log2(max(pop[i], 1) / n_users) for i in lst]
            put(f"novelty@{k}", sum(nov) / len(nov) if nov else math.nan)
            exposure[k].update(lst)
            group_exposure[k][group_of(u)].update(lst)
            if slices:
                for b in range(n_buckets):
                    rel_b = {i for i in rel if bucket[i] == b}
                    for name, v in accuracy(ranked, rel_b, k).items():
                        put(f"{bucket_labels[b]}/{name}@{k}", v)
        novel_flag.append(float(len(novel) > 0))
        if far_on:
            far_flag.append(float(len(far) > 0))

    per_user_arr = {key: np.array(v, dtype=np.float64) for key, v in per_user.items()}
    interaction_share = spread_distribution(
        [i for i in range(n_items) for _ in range(int(pop[i]))], cats, n_cats
    )

    def catalogue(exp: dict[int, Counter]) -> dict[str, float]:
        out = {}
        for k in ks:
            counts = [exp[k].get(i, 0) for i in range(n_items)]
            out[f"item_coverage@{k}"] = sum(c > 0 for c in counts) / n_items
            out[f"item_gini@{k}"] = gini(counts)
            out[f"item_entropy@{k}"] = entropy(counts)
            if n_cats:
                share = spread_distribution(list(exp[k].elements()), cats, n_cats)
                out[f"cat_exposure_kl@{k}"] = kl(interaction_share, share, alpha)
        return out

    metrics = {f"{part}/users": float(len(users))}
    bucket_users = [
        sum(1 for u in users if any(bucket[i] == b for i in truth_sets[u]))
        for b in range(n_buckets)
    ]
    for key, v in per_user_arr.items():
        label = key.split("/")[0] if "/" in key else None
        if label in bucket_labels and bucket_users[bucket_labels.index(label)] == 0:
            continue
        metrics[f"{part}/{key}"] = nanmean(list(v))
    metrics.update({f"{part}/{k}": v for k, v in catalogue(exposure).items()})
    if n_cats:
        metrics[f"{part}/cc_users"] = nanmean(novel_flag)
        if far_on:
            metrics[f"{part}/far_users"] = nanmean(far_flag)
    per_category = {}
    if n_cats:
        per_category["users"] = np.array(
            [
                sum(1 for u in users if any(c in cats[i] for i in truth_sets[u]))
                for c in range(n_cats)
            ],
            dtype=np.float64,
        )
        per_category["interaction_share"] = interaction_share
        for k in ks:
            per_category[f"exposure_share@{k}"] = spread_distribution(
                list(exposure[k].elements()), cats, n_cats
            )
            per_category[f"recall@{k}"] = np.array(
                [nanmean(r) if r else math.nan for r in cat_recall[k]]
            )
            metrics[f"{part}/macro_recall_by_cat@{k}"] = nanmean(list(per_category[f"recall@{k}"]))
    if slices:
        groups = np.array([group_of(u) for u in users])
        for g, label in enumerate(hist_labels):
            mask = groups == g
            metrics[f"{part}/{label}/users"] = float(mask.sum())
            if not mask.any():
                continue
            for key, v in per_user_arr.items():
                if "/" not in key:
                    metrics[f"{part}/{label}/{key}"] = nanmean(list(v[mask]))
            exp = {k: group_exposure[k][g] for k in ks}
            metrics.update({f"{part}/{label}/{k}": v for k, v in catalogue(exp).items()})
            if n_cats:
                metrics[f"{part}/{label}/cc_users"] = nanmean(list(np.array(novel_flag)[mask]))
                if far_on:
                    metrics[f"{part}/{label}/far_users"] = nanmean(list(np.array(far_flag)[mask]))
        for b, label in enumerate(bucket_labels):
            metrics[f"{part}/{label}/users"] = float(bucket_users[b])
    return metrics, per_user_arr, per_category, np.array(topk, dtype=np.int64).reshape(-1, k_max)
