"""Full-ranking evaluation of a scorer on a split's validation or test part.

One pass over the users, in chunks: score all items, mask the user's seen
items, take the top-K once at the largest K (:func:`topk_with_ties`), and
compute every metric at every K from those lists on the scorer's device.
Only ``[chunk, K]`` lists and ``[chunk]`` per-user values leave the device.
The metric definitions live in :mod:`gnnrec.evaluation.metrics`; the table
of result keys is in ``docs/metrics.md``.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from gnnrec.data.split import Split
from gnnrec.evaluation import aggregate as A
from gnnrec.evaluation import metrics as M
from gnnrec.evaluation import sampled as S
from gnnrec.evaluation.metrics._rows import take_rows
from gnnrec.evaluation.ranking import (
    bytes_per_user,
    chunk_size,
    csr_rows,
    dense_rows,
    mask_items,
    membership,
    topk_with_ties,
)
from gnnrec.evaluation.rerank import Rerank, candidate_pool, rerank
from gnnrec.models.base import Scorer

EVAL_PARTS = ("valid", "test")

ACCURACY = {
    "recall": M.recall,
    "ndcg": M.ndcg,
    "precision": M.precision,
    "hit": M.hit_rate,
    "mrr": M.mrr,
    "map": M.average_precision,
    "f1": M.f1,
}
"""Accuracy metrics: ``name -> f(hits, num_relevant)``; also run per popularity bucket."""


@dataclass
class EvalResult:
    """Metrics of one evaluation.

    Attributes:
        metrics: flat ``<part>/<metric>@<K>`` → value (means over users where
            the metric is defined, catalogue metrics, counts and shares;
            slices as ``<part>/<slice>/<metric>@<K>``).
        users: ``[U]`` evaluated user ids (users with ground truth).
        per_user: ``<metric>@<K>`` → ``[U]`` float64 values aligned with
            ``users`` (NaN where undefined); popularity-bucket metrics as
            ``<bucket>/<metric>@<K>``.
        topk: ``[U, max K]`` ranked item ids (``-1`` padding), when asked for.
        per_category: ``[num_categories]`` arrays: ``users`` (evaluated users
            with a ground-truth item of the category), ``interaction_share``
            (training), ``exposure_share@K`` and ``recall@K`` (mean per-user
            recall restricted to the category's items; NaN without users).
        category_names: names matching the ``per_category`` arrays.
        part: ``valid`` or ``test``.
    """

    metrics: dict[str, float]
    users: np.ndarray
    per_user: dict[str, np.ndarray] = field(default_factory=dict)
    topk: np.ndarray | None = None
    per_category: dict[str, np.ndarray] = field(default_factory=dict)
    category_names: np.ndarray | None = None
    part: str = ""

    def save_per_user(self, path: str | Path, user_ids: np.ndarray | None = None) -> Path:
        """Write the per-user vectors atomically, for paired tests between runs.

        ``.npz``: one array per metric plus ``user`` (and ``user_id``, the raw
        ids, when ``user_ids`` — the dataset's ``user_ids`` — is given);
        ``.parquet``: one column each. Key names are the ``per_user`` keys.
        """
        path = Path(path)
        columns: dict[str, np.ndarray] = {"user": self.users.astype(np.int64)}
        if user_ids is not None:
            columns["user_id"] = np.asarray(user_ids)[self.users].astype(str)
        columns.update(self.per_user)
        if path.suffix == ".npz":
            return _write_atomic(
                path, lambda tmp: np.savez_compressed(tmp, **cast("dict[str, Any]", columns))
            )
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({k: pa.array(v) for k, v in columns.items()})
            return _write_atomic(path, lambda tmp: pq.write_table(table, tmp))
        raise ValueError(f"per-user file must end in .npz or .parquet, got {path.name!r}")

    def save_per_category(self, path: str | Path) -> Path:
        """Write the per-category breakdown as a TSV (one row per category), atomically."""
        names = (
            self.category_names
            if self.category_names is not None
            else np.arange(len(next(iter(self.per_category.values()), [])))
        )
        keys = list(self.per_category)
        lines = ["\t".join(["category", *keys])]
        for c, name in enumerate(names):
            cells = [_cell(self.per_category[k][c]) for k in keys]
            lines.append("\t".join([str(name), *cells]))
        text = "".join(f"{line}\n" for line in lines)
        return _write_atomic(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.10g}"


def _write_atomic(path: Path, write: Callable[[str], object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class _DeviceCSR:
    """A CSR matrix on the evaluation device, read a chunk of rows at a time."""

    crow: Tensor
    col: Tensor
    values: Tensor | None
    num_cols: int

    @classmethod
    def of(cls, m: sp.csr_matrix, device: torch.device, with_values: bool = False) -> _DeviceCSR:
        m = m.tocsr()
        m.sort_indices()
        return cls(
            torch.from_numpy(m.indptr.astype(np.int64)).to(device),
            torch.from_numpy(m.indices.astype(np.int64)).to(device),
            torch.from_numpy(m.data.astype(np.float64)).to(device) if with_values else None,
            m.shape[1],
        )

    def dense(self, rows: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        return dense_rows(self.crow, self.col, self.values, rows, self.num_cols, dtype)

    def sorted_keys(self) -> Tensor:
        rows = torch.repeat_interleave(
            torch.arange(len(self.crow) - 1, device=self.crow.device), self.crow.diff()
        )
        return rows * self.num_cols + self.col


@dataclass
class _Truth:
    """Ground truth of one part, precomputed once."""

    excluded: list[_DeviceCSR]
    users: np.ndarray
    keys: Tensor
    num_relevant: Tensor
    num_novel: Tensor | None
    num_far: Tensor | None
    category_counts: _DeviceCSR | None
    bucket_counts: Tensor
    users_per_category: np.ndarray


def _binary(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64)
    m.eliminate_zeros()
    m.data[:] = 1.0
    return m


def _pair_not_subset(
    users: np.ndarray, items: np.ndarray, user_sets: sp.csr_matrix, item_sets: sp.csr_matrix
) -> np.ndarray:
    """For each (user, item) pair: does the item's set hold an element the user's lacks?"""
    if len(users) == 0:
        return np.zeros(0, dtype=bool)
    shared = np.asarray(user_sets[users].multiply(item_sets[items]).sum(1)).ravel()
    sizes = np.asarray(item_sets.sum(1)).ravel()[items]
    return sizes > shared


class Evaluator:
    """Ranks all items for every user with ground truth and computes all metrics.

    For the validation part the user's training items are excluded from the
    ranking; for the test part training and validation items are. With a
    target behaviour the training items of that behaviour only
    (:meth:`~gnnrec.data.split.Split.seen_matrix`); with a target domain only
    that domain's items are ranked
    (:meth:`~gnnrec.data.split.Split.candidate_items`). Users are
    processed in chunks sized by :func:`~gnnrec.evaluation.ranking.bytes_per_user`
    so that every ``[chunk, num_items]``, ``[chunk, K, C]`` and ``[chunk, K, K]``
    intermediate fits ``memory_budget_mb``; top-K is computed once at the
    largest K on the scorer's device and every metric and smaller K reuse it.
    Ties are broken by the smaller item id (see :mod:`gnnrec.evaluation.ranking`).

    Result keys (``<part>/<name>@<K>``; the full table with formulas is in
    ``docs/metrics.md``): accuracy ``recall ndcg precision hit mrr map f1``;
    cross-category ``cc_recall cc_ndcg`` (+ ``far_recall far_ndcg`` with a
    hierarchy) and the shares ``cc_users`` (``far_users``); category accuracy
    ``cat_precision cat_recall cat_f1``; diversity ``cat_coverage
    cat_coverage_frac cat_entropy cat_gini ild`` (+ ``ild_cos`` with item
    embeddings); calibration ``miscalibration`` (per user) and
    ``cat_exposure_kl`` (catalogue); catalogue and popularity ``item_coverage
    item_gini item_entropy avg_pop tail_pct novelty``; per-category means
    ``macro_recall_by_cat``. Category metrics are left out when the dataset
    has no categories.

    On the parts in ``slice_parts`` (or with ``evaluate(..., slices=True)``)
    the same metrics are also reported per
    training-history group (``<part>/hist_0-5/recall@20``, …) and the
    accuracy metrics per test-item popularity bucket
    (``<part>/pop_q0-50/recall@20``, …: ground truth restricted to the
    bucket's items). A slice without users reports only its ``users`` count.

    :meth:`evaluate_reranked` computes the same metrics on lists re-ranked for
    diversity or calibration (:mod:`gnnrec.evaluation.rerank`), one result
    per setting, from one scoring pass.

    Args:
        split: the split to evaluate on.
        ks: cut-offs.
        device: where ranking runs (the scorer's device).
        memory_budget_mb: bound on one chunk's intermediates.
        user_hist_bins: upper edges of the training-history groups
            (number of training interactions), e.g. ``(5, 20)``.
        item_pop_quantiles: popularity quantiles separating the item buckets.
        tail_ratio: share of least popular items forming the long tail.
        calibration_alpha: smoothing of the calibration KL divergences.
        slice_parts: parts reported per user group and item bucket (the
            runner's ``conf/eval/default.yaml`` asks for ``[test]``).
    """

    def __init__(
        self,
        split: Split,
        ks: Sequence[int] = (10, 20),
        device: torch.device | str = "cpu",
        memory_budget_mb: float = 1024.0,
        *,
        user_hist_bins: Sequence[int] = (5, 20),
        item_pop_quantiles: Sequence[float] = (0.5, 0.8),
        tail_ratio: float = 0.2,
        calibration_alpha: float = 0.01,
        slice_parts: Sequence[str] = (),
    ) -> None:
        if not ks or min(ks) < 1:
            raise ValueError(f"ks must be positive cut-offs, got {list(ks)}")
        if memory_budget_mb <= 0:
            raise ValueError(f"memory_budget_mb must be positive, got {memory_budget_mb}")
        unknown = set(slice_parts) - set(EVAL_PARTS)
        if unknown:
            raise ValueError(f"slice_parts must be among {EVAL_PARTS}, got {sorted(unknown)}")
        self.split = split
        self.ks = sorted({int(k) for k in ks})
        self.device = dev = torch.device(device)
        self.memory_budget_mb = float(memory_budget_mb)
        self.calibration_alpha = float(calibration_alpha)
        self.slice_parts = tuple(slice_parts)
        ds = split.dataset
        self.num_users, self.num_items = ds.num_users, ds.num_items
        self.num_categories = ds.num_categories
        self.category_names = np.asarray(ds.category_names)

        matrices = {p: _binary(split.user_item_matrix(p)) for p in ("train", *EVAL_PARTS)}
        self._csr = {p: _DeviceCSR.of(m, dev) for p, m in matrices.items()}
        # What ranking masks: the training items (of the target behaviour only, when
        # the split says so: Split.seen_matrix), and items outside the target domain.
        seen = _binary(split.seen_matrix())
        self._seen = (
            self._csr["train"] if seen.nnz == matrices["train"].nnz else (_DeviceCSR.of(seen, dev))
        )
        candidates = split.candidate_items()
        self.candidate_items = None if candidates is None else torch.from_numpy(candidates).to(dev)
        self._off_catalogue = (
            None
            if candidates is None or candidates.all()
            else torch.from_numpy(np.flatnonzero(~candidates)).to(dev)
        )
        train = matrices["train"]
        popularity = np.asarray(train.sum(0), dtype=np.float64).ravel()
        self.popularity = torch.from_numpy(popularity).to(dev)
        self.is_tail = M.tail_items(self.popularity, tail_ratio)
        self.item_bucket = M.popularity_buckets(self.popularity, item_pop_quantiles)
        self.bucket_labels = A.popularity_bins(item_pop_quantiles)
        self.hist_edges = [int(e) for e in user_hist_bins]
        self.hist_labels = A.history_bins(self.hist_edges)
        history = np.bincount(ds.users[split.train], minlength=ds.num_users)
        self.history_length = history
        self.user_group = A.history_groups(history, self.hist_edges)
        self._user_group_t = torch.from_numpy(self.user_group).to(dev)

        # Category side: dense [I, C] item multi-hot (and top-levels), user sets as CSR.
        self.has_categories = self.num_categories > 0
        self.has_hierarchy = self.has_categories and ds.category_top_level is not None
        item_cats = _binary(ds.item_categories)
        self._item_cats_sp = item_cats
        user_cats = _binary(train @ item_cats)
        self.item_categories = torch.from_numpy(item_cats.toarray()).float().to(dev)
        self._user_cats = _DeviceCSR.of(user_cats, dev)
        sizes = np.asarray(item_cats.sum(1)).ravel()
        self.max_item_labels = int(sizes.max()) if len(sizes) else 0
        spread = sp.diags(1.0 / np.maximum(sizes, 1)) @ item_cats
        hist = sp.csr_matrix(train @ spread)
        hist = sp.diags(1.0 / np.maximum(np.asarray(hist.sum(1)).ravel(), 1e-300)) @ hist
        self._history_dist = _DeviceCSR.of(sp.csr_matrix(hist), dev, with_values=True)
        # Category spread transposed, [C, I] sparse: a dense float64 [I, C] copy could be large.
        spread_t = sp.csr_matrix(spread.T)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            self._spread_t = torch.sparse_csr_tensor(
                torch.from_numpy(spread_t.indptr.astype(np.int64)),
                torch.from_numpy(spread_t.indices.astype(np.int64)),
                torch.from_numpy(spread_t.data.astype(np.float64)),
                size=spread_t.shape,
                check_invariants=True,
            ).to(dev)
        self.interaction_share = M.category_share(self.popularity, self._spread_t)
        self.num_top_levels = 0
        if self.has_hierarchy:
            top = np.asarray(ds.category_top_level, dtype=np.int64)
            _, top_index = np.unique(top, return_inverse=True)
            self.num_top_levels = int(top_index.max()) + 1
            to_top = sp.csr_matrix(
                (np.ones(len(top)), (np.arange(len(top)), top_index)),
                shape=(len(top), self.num_top_levels),
            )
            item_top = _binary(item_cats @ to_top)
            self._item_top_sp = item_top
            self._user_top_sp = _binary(user_cats @ to_top)
            self.item_top = torch.from_numpy(item_top.toarray()).float().to(dev)
            self._user_top = _DeviceCSR.of(self._user_top_sp, dev)
        self._user_cats_sp = user_cats
        self._truth = {p: self._build_truth(p, matrices) for p in EVAL_PARTS}

    @property
    def chunk_size(self) -> int:
        """Users per chunk for the configured memory budget (without embedding ILD)."""
        return self._chunk_size(emb_dim=0)

    def _chunk_size(self, emb_dim: int, rerank_pool: int = 0) -> int:
        # Re-ranking (gnnrec.evaluation.rerank) holds per user the float32 [pool, C]
        # candidate categories of MMR and its gather (8 per (pool, C)), or about 16 int64 or
        # float64 [pool, L] label blocks of calibrated re-ranking (L: most labels of an item).
        pool = min(rerank_pool, self.num_items)
        rerank_bytes = pool * (8 * self.num_categories + 128 * self.max_item_labels)
        per_user = rerank_bytes + bytes_per_user(
            self.num_items,
            min(max(self.ks), self.num_items),
            self.num_categories,
            self.num_top_levels,
            emb_dim,
            len(self.hist_labels) + len(self.bucket_labels),
        )
        return chunk_size(self.memory_budget_mb, per_user)

    def _build_truth(self, part: str, matrices: dict[str, sp.csr_matrix]) -> _Truth:
        m = matrices[part]
        dev = self.device
        num_rel = np.diff(m.indptr)
        users = np.flatnonzero(num_rel > 0)
        rows = np.repeat(np.arange(m.shape[0]), num_rel)
        bucket = self.item_bucket.cpu().numpy()
        bucket_counts = np.zeros((m.shape[0], len(self.bucket_labels)), dtype=np.int64)
        np.add.at(bucket_counts, (rows, bucket[m.indices]), 1)
        num_novel = num_far = cat_counts = None
        users_per_category = np.zeros(self.num_categories, dtype=np.int64)
        if self.has_categories:
            novel = _pair_not_subset(rows, m.indices, self._user_cats_sp, self._item_cats_sp)
            num_novel = torch.from_numpy(np.bincount(rows, novel, m.shape[0]).astype(np.int64))
            counts = sp.csr_matrix(m @ self._item_cats_sp)
            cat_counts = _DeviceCSR.of(counts, dev, with_values=True)
            users_per_category = np.asarray((counts[users] > 0).sum(0)).ravel()
        if self.has_hierarchy:
            far = _pair_not_subset(rows, m.indices, self._user_top_sp, self._item_top_sp)
            num_far = torch.from_numpy(np.bincount(rows, far, m.shape[0]).astype(np.int64))
        csr = self._csr[part]
        excluded = [self._seen] if part == "valid" else [self._seen, self._csr["valid"]]
        return _Truth(
            excluded=excluded,
            users=users,
            keys=csr.sorted_keys(),
            num_relevant=torch.from_numpy(num_rel.astype(np.int64)).to(dev),
            num_novel=None if num_novel is None else num_novel.to(dev),
            num_far=None if num_far is None else num_far.to(dev),
            category_counts=cat_counts,
            bucket_counts=torch.from_numpy(bucket_counts).to(dev),
            users_per_category=users_per_category,
        )

    @torch.no_grad()
    def evaluate(
        self,
        scorer: Scorer,
        part: str = "valid",
        keep_topk: bool = False,
        *,
        item_embeddings: Tensor | None = None,
        slices: bool | None = None,
    ) -> EvalResult:
        """Evaluate ``scorer`` on ``part`` (``valid`` or ``test``).

        Args:
            scorer: ``[B]`` user ids → ``[B, num_items]`` scores on the device.
            part: ``valid`` or ``test``.
            keep_topk: also return the ranked lists (``[U, max K]``).
            item_embeddings: ``[num_items, d]`` for ``ild_cos``; taken from the
                scorer when it has ``item_embeddings``
                (:class:`~gnnrec.models.scorers.EmbeddingScorer`).
            slices: report user-group and item-bucket slices (default: whether
                ``part`` is in ``slice_parts``).
        """
        if slices is None:
            slices = part in self.slice_parts
        return self._evaluate(scorer, part, [None], keep_topk, item_embeddings, slices)[0]

    @torch.no_grad()
    def evaluate_reranked(
        self,
        scorer: Scorer,
        part: str,
        settings: Sequence[Rerank],
        keep_topk: bool = False,
        *,
        item_embeddings: Tensor | None = None,
        slices: bool = False,
    ) -> list[EvalResult]:
        """Evaluate re-ranked lists of ``scorer`` on ``part``, one result per setting.

        The scorer runs once per chunk of users; each setting re-ranks the
        top ``setting.pool`` unseen items (:mod:`gnnrec.evaluation.rerank`)
        into a list of the largest K, and every metric is computed on it as
        in :meth:`evaluate` (the keys are the same; slices only when asked).

        Raises:
            ValueError: the dataset has no categories, or a pool is shorter
                than the largest K.
        """
        if not settings:
            return []
        if not self.has_categories:
            raise ValueError("re-ranking needs item categories, and the dataset has none")
        k_max = min(max(self.ks), self.num_items)
        short = [s.name for s in settings if s.pool < k_max]
        if short:
            raise ValueError(
                f"the re-ranking pool must hold at least the largest K ({k_max}) items; "
                f"{', '.join(short)} has a smaller one"
            )
        return self._evaluate(scorer, part, list(settings), keep_topk, item_embeddings, slices)

    @torch.no_grad()
    def evaluate_sampled(
        self,
        scorer: Scorer,
        part: str = "test",
        num_negatives: int = 999,
        sampler: str = "uniform",
        seed: int = 0,
        ks: Sequence[int] = (10,),
    ) -> EvalResult:
        """The papers' sampled protocol (:mod:`gnnrec.evaluation.sampled`): each
        held-out item ranked among ``num_negatives`` items the user never
        interacted with, drawn ``uniform`` or by ``popularity``.

        Keys are ``<part>/sampled<N>_<sampler>/hit@K`` and ``ndcg@K`` (means
        over users of the mean over their held-out items), per-user vectors
        ``sampled<N>_<sampler>/hit@K``; never mixed with full-ranking keys.

        Raises:
            ValueError: an unknown part or sampler, ``num_negatives < 1``, a
                user with fewer than ``num_negatives`` items to draw from.
        """
        if part not in EVAL_PARTS:
            raise ValueError(f"part must be 'valid' or 'test', got {part!r}")
        if sampler not in S.SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(S.SAMPLERS)}, got {sampler!r}")
        if isinstance(num_negatives, bool) or int(num_negatives) < 1:
            raise ValueError(f"the number of negatives must be positive, got {num_negatives!r}")
        n = int(num_negatives)
        ks = sorted({int(k) for k in ks})
        if not ks or ks[0] < 1 or ks[-1] > n + 1:
            raise ValueError(f"sampled cut-offs must lie in 1..{n + 1}, got {list(ks)}")
        dev = self.device
        truth = self._truth[part]
        users = truth.users
        held = self._csr[part]
        every = _DeviceCSR.of(_binary(self.split.user_item_matrix_all()), dev)
        weights = None if sampler == "uniform" else self.popularity
        prefix = S.label(n, sampler)
        sums = {
            f"{m}@{k}": torch.zeros(len(users), dtype=torch.float64, device=dev)
            for m in ("hit", "ndcg")
            for k in ks
        }
        size = max(1, self.chunk_size // 4)  # keys and hashes: a few [chunk, items] blocks
        users_t = torch.from_numpy(users).to(dev)
        for start in range(0, len(users), size):
            rows = users_t[start : start + size]
            excluded = every.dense(rows, torch.bool)
            if self.candidate_items is not None:
                excluded |= ~self.candidate_items.unsqueeze(0)
            negatives = S.sample_negatives(seed, rows, self.num_items, excluded, n, weights)
            del excluded
            scores = scorer(rows).to(torch.float32)
            local, pos_items = csr_rows(held.crow, held.col, rows)
            ranks = S.sampled_ranks(
                scores[local, pos_items],
                pos_items,
                scores.gather(1, negatives)[local],
                negatives[local],
            )
            counts = torch.bincount(local, minlength=len(rows)).to(torch.float64)
            for k in ks:
                for name, metric in (("hit", S.sampled_hit), ("ndcg", S.sampled_ndcg)):
                    total = torch.zeros(len(rows), dtype=torch.float64, device=dev)
                    total.index_add_(0, local, metric(ranks, k))
                    sums[f"{name}@{k}"][start : start + len(rows)] = total / counts
        per_user = {f"{prefix}/{key}": v.cpu().numpy() for key, v in sums.items()}
        metrics = {
            f"{part}/{prefix}/{key}": float(v.mean()) if len(v) else float("nan")
            for key, v in sums.items()
        }
        metrics[f"{part}/{prefix}/users"] = float(len(users))
        return EvalResult(metrics=metrics, users=users, per_user=per_user, part=part)

    def _evaluate(
        self,
        scorer: Scorer,
        part: str,
        variants: list[Rerank | None],
        keep_topk: bool,
        item_embeddings: Tensor | None,
        slices: bool,
    ) -> list[EvalResult]:
        """One pass over the users; per chunk, one list per variant (``None``:
        the plain ranking) and every metric of each."""
        if part not in EVAL_PARTS:
            raise ValueError(f"part must be 'valid' or 'test', got {part!r}")
        if item_embeddings is None:
            item_embeddings = getattr(scorer, "item_embeddings", None)
        if item_embeddings is not None:
            if item_embeddings.shape[0] != self.num_items:
                raise ValueError(
                    f"item_embeddings has {item_embeddings.shape[0]} rows, "
                    f"expected {self.num_items}"
                )
            # Normalised once per evaluation; each list then only gathers rows.
            item_embeddings = M.unit_rows(item_embeddings.to(self.device))
        truth = self._truth[part]
        users = truth.users
        k_max = min(max(self.ks), self.num_items)
        emb_dim = 0 if item_embeddings is None else item_embeddings.shape[1]
        pool = max((v.pool for v in variants if v is not None), default=0)
        size = self._chunk_size(emb_dim, pool)
        accs = [_Accumulators(self, slices) for _ in variants]
        per_user: list[dict[str, list[Tensor]]] = [{} for _ in variants]
        lists: list[list[Tensor]] = [[] for _ in variants]
        users_t = torch.from_numpy(users).to(self.device)
        buffer = None
        if getattr(scorer, "accepts_out", False) and len(users):
            # One score block for all chunks (see gnnrec.models.scorers).
            buffer = torch.empty(
                min(size, len(users)), self.num_items, dtype=torch.float32, device=self.device
            )
        # At least one (possibly empty) chunk, so that a part without users still
        # reports every key (as NaN) rather than a different key set.
        for start in range(0, max(len(users), 1), size):
            rows = users_t[start : start + size]
            out = {} if buffer is None else {"out": buffer[: len(rows)]}
            scores = scorer(rows, **out)
            if scores.shape != (len(rows), self.num_items):
                raise ValueError(
                    f"scorer returned shape {tuple(scores.shape)}, "
                    f"expected ({len(rows)}, {self.num_items})"
                )
            # Masking writes in place: copy unless the block is ours (the buffer) or a
            # fresh float32 tensor; a view could alias the scorer's own state.
            ours = buffer is not None and scores.data_ptr() == buffer.data_ptr()
            if scores.dtype != torch.float32 or not (ours or _owns_memory(scores)):
                scores = scores.to(torch.float32, copy=True)
            for excluded in truth.excluded:
                mask_items(scores, excluded.crow, excluded.col, rows)
            if self._off_catalogue is not None:
                scores[:, self._off_catalogue] = float("-inf")
            ranked = self._ranked_lists(rows, scores, variants, k_max, pool)
            del scores
            for v, topk in enumerate(ranked):
                if keep_topk:
                    lists[v].append(topk.cpu())
                values = self._chunk_metrics(rows, topk, truth, accs[v], item_embeddings, slices)
                for key, value in values.items():
                    per_user[v].setdefault(key, []).append(value)
        results = []
        for v in range(len(variants)):
            arrays = {k: torch.cat(x).cpu().numpy() for k, x in per_user[v].items()}
            metrics, per_category = self._summarise(part, truth, arrays, accs[v], slices)
            topk_all = torch.cat(lists[v]).numpy() if keep_topk and lists[v] else None
            if keep_topk and topk_all is None:
                topk_all = np.zeros((0, k_max), dtype=np.int64)
            results.append(
                EvalResult(
                    metrics=metrics,
                    users=users,
                    per_user=arrays,
                    topk=topk_all,
                    per_category=per_category,
                    category_names=self.category_names if self.has_categories else None,
                    part=part,
                )
            )
        return results

    def _ranked_lists(
        self, rows: Tensor, scores: Tensor, variants: list[Rerank | None], k_max: int, pool: int
    ) -> list[Tensor]:
        """``[B, k_max]`` lists of one chunk's masked scores, one per variant."""
        plain = topk_with_ties(scores, k_max) if None in variants else None
        if pool == 0:
            return [cast(Tensor, plain)]
        # The first n of the top-`pool` list are the top n, so every setting reads a prefix.
        candidates, values = candidate_pool(scores, pool)
        history = None
        if any(v is not None and v.method == "calibrated" for v in variants):
            history = self._history_dist.dense(rows, torch.float64)
        return [
            cast(Tensor, plain)
            if v is None
            else rerank(
                v, candidates, values, self.item_categories, k_max, history, self.calibration_alpha
            )
            for v in variants
        ]

    def _chunk_metrics(
        self,
        rows: Tensor,
        topk: Tensor,
        truth: _Truth,
        acc: _Accumulators,
        item_embeddings: Tensor | None,
        slices: bool,
    ) -> dict[str, Tensor]:
        """Every per-user metric of one chunk at every K; updates ``acc``."""
        out: dict[str, Tensor] = {}
        valid = topk >= 0
        hits = membership(truth.keys, rows, topk, self.num_items)
        num_rel = truth.num_relevant[rows]
        cats = ucats = novel = far = truth_cats = history = jaccard = None
        if self.has_categories:
            cats = M.list_categories(topk, self.item_categories)
            ucats = self._user_cats.dense(rows)
            novel = M.novel_items(cats, ucats)
            assert truth.category_counts is not None and truth.num_novel is not None
            truth_cats = truth.category_counts.dense(rows, torch.float64)
            history = self._history_dist.dense(rows, torch.float64)
            jaccard = M.jaccard_distances(cats)
            num_novel = truth.num_novel[rows]
            if self.has_hierarchy:
                tops = M.list_categories(topk, self.item_top)
                far = M.novel_items(tops, self._user_top.dense(rows))
                assert truth.num_far is not None
                num_far = truth.num_far[rows]
        listed = None
        if item_embeddings is not None:
            listed = take_rows(item_embeddings, topk.clamp(min=0))
        bucket_of = self.item_bucket[topk.clamp(min=0)]
        for k in self.ks:
            h, t, v = hits[:, :k], topk[:, :k], valid[:, :k]
            for name, fn in ACCURACY.items():
                out[f"{name}@{k}"] = fn(h, num_rel)
            if self.has_categories:
                assert cats is not None and ucats is not None and novel is not None
                assert truth_cats is not None and history is not None and jaccard is not None
                c = cats[:, :k]
                counts = M.category_counts(c)
                out[f"cc_recall@{k}"] = M.recall(h & novel[:, :k], num_novel)
                out[f"cc_ndcg@{k}"] = M.ndcg(h & novel[:, :k], num_novel)
                if far is not None:
                    out[f"far_recall@{k}"] = M.recall(h & far[:, :k], num_far)
                    out[f"far_ndcg@{k}"] = M.ndcg(h & far[:, :k], num_far)
                cat_p = M.category_precision(c, ucats)
                cat_r = M.category_recall(counts, truth_cats)
                out[f"cat_precision@{k}"] = cat_p
                out[f"cat_recall@{k}"] = cat_r
                out[f"cat_f1@{k}"] = M.category_f1(cat_p, cat_r)
                coverage = M.category_coverage(counts)
                out[f"cat_coverage@{k}"] = coverage
                out[f"cat_coverage_frac@{k}"] = coverage / self.num_categories
                out[f"cat_entropy@{k}"] = M.category_entropy(counts)
                out[f"cat_gini@{k}"] = M.category_gini(counts)
                out[f"ild@{k}"] = M.mean_pairwise(jaccard[:, :k, :k], v)
                out[f"miscalibration@{k}"] = M.miscalibration(c, history, self.calibration_alpha)
                acc.add_category_recall(k, M.recall_per_category(h, c, truth_cats))
            if listed is not None:
                out[f"ild_cos@{k}"] = M.intra_list_diversity_cosine(
                    listed[:, :k], v, normalized=True
                )
            out[f"avg_pop@{k}"] = M.average_popularity(t, self.popularity)
            out[f"tail_pct@{k}"] = M.tail_percentage(t, self.is_tail)
            out[f"novelty@{k}"] = M.novelty(t, self.popularity, self.num_users)
            acc.add_exposure(k, rows, t)
            if slices:
                for b, label in enumerate(self.bucket_labels):
                    hb = h & (bucket_of[:, :k] == b)
                    nb = truth.bucket_counts[rows, b]
                    for name, fn in ACCURACY.items():
                        out[f"{label}/{name}@{k}"] = fn(hb, nb)
        if self.has_categories:
            out["_novel"] = (num_novel > 0).double()
            if self.has_hierarchy:
                out["_far"] = (num_far > 0).double()
        return out

    def _summarise(
        self,
        part: str,
        truth: _Truth,
        arrays: dict[str, np.ndarray],
        acc: _Accumulators,
        slices: bool,
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        shares = {name: arrays.pop(f"_{name}", None) for name in ("novel", "far")}
        users = truth.users
        out: dict[str, float] = {f"{part}/users": float(len(users))}
        bucket_users: dict[str, int] = {}
        if slices:
            counts = truth.bucket_counts[torch.from_numpy(users).to(self.device)].cpu().numpy()
            bucket_users = {
                label: int((counts[:, b] > 0).sum()) for b, label in enumerate(self.bucket_labels)
            }
        # A slice without users reports its count only.
        empty = tuple(f"{label}/" for label, n in bucket_users.items() if n == 0)
        reported = {k: v for k, v in arrays.items() if not any(map(k.startswith, empty))}
        out.update({f"{part}/{key}": v for key, v in A.means(reported).items()})
        out.update({f"{part}/{key}": v for key, v in self._catalogue(acc.exposure).items()})
        for name, label in (("novel", "cc_users"), ("far", "far_users")):
            if shares[name] is not None:
                out[f"{part}/{label}"] = A.mean_defined(cast(np.ndarray, shares[name]))
        per_category: dict[str, np.ndarray] = {}
        if self.has_categories:
            per_category["users"] = truth.users_per_category.astype(np.float64)
            per_category["interaction_share"] = self.interaction_share.cpu().numpy()
            for k in self.ks:
                exposure_share = M.category_share(acc.exposure[k], self._spread_t)
                per_category[f"exposure_share@{k}"] = exposure_share.cpu().numpy()
                recall_by_cat = (acc.cat_recall_sum[k] / acc.cat_recall_n[k]).cpu().numpy()
                per_category[f"recall@{k}"] = recall_by_cat
                out[f"{part}/macro_recall_by_cat@{k}"] = A.mean_defined(recall_by_cat)
        if slices:
            base = {k: v for k, v in arrays.items() if "/" not in k}
            group = self.user_group[users]
            for g, label in enumerate(self.hist_labels):
                mask = group == g
                prefix = f"{part}/{label}"
                out[f"{prefix}/users"] = float(mask.sum())
                if not mask.any():
                    continue
                out.update({f"{prefix}/{k}": v for k, v in A.means(base, mask).items()})
                exposure = {k: cast(Tensor, acc.group_exposure[k])[g] for k in self.ks}
                out.update({f"{prefix}/{k}": v for k, v in self._catalogue(exposure).items()})
                for name, share in (("novel", "cc_users"), ("far", "far_users")):
                    if shares[name] is not None:
                        out[f"{prefix}/{share}"] = A.mean_defined(
                            cast(np.ndarray, shares[name])[mask]
                        )
            for label, n in bucket_users.items():
                out[f"{part}/{label}/users"] = float(n)
        return out, per_category

    def _catalogue(self, exposure: dict[int, Tensor]) -> dict[str, float]:
        out: dict[str, float] = {}
        for k in self.ks:
            x = exposure[k]
            out[f"item_coverage@{k}"] = float(M.item_coverage(x))
            out[f"item_gini@{k}"] = float(M.gini_index(x))
            out[f"item_entropy@{k}"] = float(M.exposure_entropy(x))
            if self.has_categories:
                share = M.category_share(x, self._spread_t)
                kl = M.kl_divergence(self.interaction_share, share, self.calibration_alpha)
                out[f"cat_exposure_kl@{k}"] = float(kl)
        return out


def _owns_memory(t: Tensor) -> bool:
    """Whether ``t`` is a plain contiguous tensor safe to overwrite (not a view/expand)."""
    return t.is_contiguous() and t._base is None and t.storage_offset() == 0


class _Accumulators:
    """Catalogue-level sums over chunks: item exposure (overall and per user
    group) and per-category recall sums."""

    def __init__(self, ev: Evaluator, slices: bool) -> None:
        dev, n_items = ev.device, ev.num_items
        self.ev = ev
        self.slices = slices
        zeros = torch.float64
        self.exposure = {k: torch.zeros(n_items, dtype=zeros, device=dev) for k in ev.ks}
        n_groups = len(ev.hist_labels)
        self.group_exposure = {
            k: torch.zeros(n_groups, n_items, dtype=zeros, device=dev) if slices else None
            for k in ev.ks
        }
        c = ev.num_categories
        self.cat_recall_sum = {k: torch.zeros(c, dtype=zeros, device=dev) for k in ev.ks}
        self.cat_recall_n = {k: torch.zeros(c, dtype=zeros, device=dev) for k in ev.ks}

    def add_exposure(self, k: int, rows: Tensor, topk: Tensor) -> None:
        self.exposure[k] += M.item_exposure(topk, self.ev.num_items)
        if self.slices:
            # One bincount over (group, item + 1); padding (-1) lands in each group's bin 0.
            n = self.ev.num_items + 1
            groups = len(self.ev.hist_labels)
            flat = self.ev._user_group_t[rows].unsqueeze(1) * n + topk + 1
            counts = torch.bincount(flat.flatten(), minlength=groups * n).view(groups, n)
            self.group_exposure[k] += counts[:, 1:]  # type: ignore[operator]  # not None when slices

    def add_category_recall(self, k: int, recall_uc: Tensor) -> None:
        defined = ~torch.isnan(recall_uc)
        self.cat_recall_sum[k] += torch.where(defined, recall_uc, 0.0).sum(0)
        self.cat_recall_n[k] += defined.sum(0)
