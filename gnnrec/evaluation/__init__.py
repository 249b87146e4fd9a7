"""Evaluation: the full-ranking engine and pure metric functions."""

from gnnrec.evaluation.evaluator import EvalResult, Evaluator
from gnnrec.evaluation.ranking import topk_with_ties
from gnnrec.models.scorers import EmbeddingScorer

__all__ = ["EmbeddingScorer", "EvalResult", "Evaluator", "topk_with_ties"]
