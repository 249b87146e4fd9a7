"""Hyper-parameter search on Optuna: search spaces from config, a study shared
by worker processes, budgets, pruning on the validation curve (``gnnrec-tune``)."""

from gnnrec.tune.space import SearchSpace, as_overrides, check_keys
from gnnrec.tune.study import Budget, Tally, best_trial, open_storage, open_study, tally

__all__ = [
    "Budget",
    "SearchSpace",
    "Tally",
    "as_overrides",
    "best_trial",
    "check_keys",
    "open_storage",
    "open_study",
    "tally",
]
