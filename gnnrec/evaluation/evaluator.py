"""Full-ranking evaluation of a scorer on a split's validation or test part."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from gnnrec.data.split import Split
from gnnrec.evaluation import metrics as M
from gnnrec.evaluation.ranking import csr_rows, topk_with_ties
from gnnrec.models.base import Scorer


@dataclass
class EvalResult:
    """Metrics of one evaluation.

    Attributes:
        metrics: flat ``<part>/<metric>@<K>`` → value (means over users where
            the metric is defined, plus catalogue metrics and counts).
        users: ``[U]`` evaluated user ids (users with ground truth).
        per_user: ``<metric>@<K>`` → ``[U]`` values (NaN where undefined).
        topk: ``[U, max K]`` ranked item ids (``-1`` padding), when asked for.
    """

    metrics: dict[str, float]
    users: np.ndarray
    per_user: dict[str, np.ndarray] = field(default_factory=dict)
    topk: np.ndarray | None = None


def _torch_csr(m: sp.csr_matrix, device: torch.device) -> tuple[Tensor, Tensor]:
    return (
        torch.from_numpy(m.indptr.astype(np.int64)).to(device),
        torch.from_numpy(m.indices.astype(np.int64)).to(device),
    )


class Evaluator:
    """Ranks all items for every user with ground truth and computes metrics.

    For the validation part the user's training items are excluded from the
    ranking; for the test part training and validation items are. Users are
    processed in chunks sized so that the ``[chunk, num_items]`` score block
    stays within ``memory_budget_mb``; top-K is computed once at the largest
    K on the scorer's device and every metric and smaller K reuse it.

    Metrics, for each K in ``ks`` (see :mod:`gnnrec.evaluation.metrics`):
    ``recall``, ``ndcg``, ``precision``, ``hit``; ``cc_recall`` (recall over
    the test items that carry a category new to the user; users without such
    items are left out of its mean and ``cc_users`` is the share counted);
    ``cat_coverage`` (count) and ``cat_coverage_frac`` (fraction of all
    categories); ``cat_entropy``; ``ild`` (category Jaccard distance);
    ``item_coverage`` (catalogue share).

    Args:
        split: the split to evaluate on.
        ks: cut-offs.
        device: where ranking runs (the scorer's device).
        memory_budget_mb: bound on the score block of one chunk.
    """

    def __init__(
        self,
        split: Split,
        ks: Sequence[int] = (10, 20),
        device: torch.device | str = "cpu",
        memory_budget_mb: float = 256.0,
    ) -> None:
        if not ks or min(ks) < 1:
            raise ValueError(f"ks must be positive cut-offs, got {list(ks)}")
        self.split = split
        self.ks = sorted({int(k) for k in ks})
        self.device = torch.device(device)
        ds = split.dataset
        self.num_items = ds.num_items
        self.num_categories = ds.num_categories
        # Bytes per user in a chunk: scores (4) + ground truth (1) + masks (1) per item.
        self.chunk_size = max(1, int(memory_budget_mb * 2**20 // (6 * max(1, ds.num_items))))
        self._matrices = {p: split.user_item_matrix(p) for p in ("train", "valid", "test")}
        self._csr = {p: _torch_csr(m, self.device) for p, m in self._matrices.items()}
        self.item_categories = (
            torch.from_numpy(ds.item_categories.toarray()).float().to(self.device)
        )
        train_cats = (self._matrices["train"] @ ds.item_categories) > 0
        self.user_categories = torch.from_numpy(train_cats.toarray()).float().to(self.device)

    def _excluded(self, part: str) -> tuple[str, ...]:
        return ("train",) if part == "valid" else ("train", "valid")

    @torch.no_grad()
    def evaluate(self, scorer: Scorer, part: str = "valid", keep_topk: bool = False) -> EvalResult:
        """Evaluate ``scorer`` on ``part`` (``valid`` or ``test``).

        With ``keep_topk`` the ranked lists are returned too (``[U, max K]``).
        """
        if part not in ("valid", "test"):
            raise ValueError(f"part must be 'valid' or 'test', got {part!r}")
        truth_m = self._matrices[part]
        users = np.flatnonzero(np.diff(truth_m.indptr) > 0)
        k_max = min(max(self.ks), self.num_items)
        per_user: dict[str, list[Tensor]] = {}
        exposure = {k: torch.zeros(self.num_items, device=self.device) for k in self.ks}
        users_t = torch.from_numpy(users).to(self.device)
        lists: list[Tensor] = []
        for start in range(0, len(users), self.chunk_size):
            chunk = users_t[start : start + self.chunk_size]
            scores = scorer(chunk).float().contiguous()
            if scores.shape != (len(chunk), self.num_items):
                raise ValueError(
                    f"scorer returned shape {tuple(scores.shape)}, "
                    f"expected ({len(chunk)}, {self.num_items})"
                )
            if torch.isnan(scores).any():
                raise FloatingPointError("the model produced NaN scores")
            for excluded in self._excluded(part):
                rows, cols = csr_rows(*self._csr[excluded], chunk)
                scores[rows, cols] = float("-inf")
            topk = topk_with_ties(scores, k_max)
            if keep_topk:
                lists.append(topk.cpu())
            truth = torch.zeros_like(scores, dtype=torch.bool)
            rows, cols = csr_rows(*self._csr[part], chunk)
            truth[rows, cols] = True
            num_rel = truth.sum(1)
            valid = topk >= 0
            hits = truth.gather(1, topk.clamp(min=0)) & valid
            # New-category ground truth: relevant items carrying a category unseen in train.
            user_cats = self.user_categories[chunk]
            novel_topk = M.novel_items(topk, user_cats, self.item_categories)
            unseen = 1.0 - user_cats
            novel_all = (unseen @ self.item_categories.T) > 0
            num_novel = (truth & novel_all).sum(1)
            for k in self.ks:
                h, t = hits[:, :k], topk[:, :k]
                counts = M.category_counts(t, self.item_categories)
                values = {
                    "recall": M.recall(h, num_rel),
                    "ndcg": M.ndcg(h, num_rel),
                    "precision": M.precision(h, num_rel),
                    "hit": M.hit_rate(h, num_rel),
                    "cc_recall": M.recall(h & novel_topk[:, :k], num_novel),
                    "cat_coverage": M.category_coverage(counts),
                    "cat_entropy": M.category_entropy(counts),
                    "ild": M.intra_list_diversity(t, self.item_categories),
                }
                for name, v in values.items():
                    per_user.setdefault(f"{name}@{k}", []).append(v)
                flat = t[t >= 0]
                exposure[k] += torch.bincount(flat, minlength=self.num_items).float()
            per_user.setdefault("_num_novel", []).append(num_novel)

        arrays = {key: torch.cat(v).cpu().numpy() for key, v in per_user.items()}
        num_novel = arrays.pop("_num_novel")
        out: dict[str, float] = {f"{part}/users": float(len(users))}
        for key, values in arrays.items():
            defined = values[~np.isnan(values)]
            out[f"{part}/{key}"] = float(defined.mean()) if len(defined) else math.nan
        for k in self.ks:
            if self.num_categories:
                out[f"{part}/cat_coverage_frac@{k}"] = out[f"{part}/cat_coverage@{k}"] / (
                    self.num_categories
                )
            out[f"{part}/item_coverage@{k}"] = M.item_coverage(exposure[k])
        out[f"{part}/cc_users"] = float((num_novel > 0).mean()) if len(users) else math.nan
        ranked = torch.cat(lists).numpy() if keep_topk and lists else None
        return EvalResult(metrics=out, users=users, per_user=arrays, topk=ranked)
