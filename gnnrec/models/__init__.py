"""Recommender models: plain ``nn.Module``s, no configuration objects inside."""

from gnnrec.models.base import Recommender, Scorer
from gnnrec.models.gat import GATRec
from gnnrec.models.lightgcn import LightGCN
from gnnrec.models.mf import MF
from gnnrec.models.mostpop import MostPop
from gnnrec.models.scorers import EmbeddingScorer

__all__ = ["MF", "EmbeddingScorer", "GATRec", "LightGCN", "MostPop", "Recommender", "Scorer"]
