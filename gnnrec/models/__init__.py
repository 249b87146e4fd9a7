"""Recommender models: plain ``nn.Module``s, no configuration objects inside."""

from gnnrec.models.base import Recommender, Scorer
from gnnrec.models.conv import ConvStackRec, GCNRec, SAGERec, TransformerRec
from gnnrec.models.gat import GATRec
from gnnrec.models.gfcf import GFCF
from gnnrec.models.hetero import HGTRec, RGCNRec
from gnnrec.models.itemknn import ItemKNN
from gnnrec.models.lightgcn import LightGCN
from gnnrec.models.mf import MF
from gnnrec.models.mostpop import MostPop
from gnnrec.models.ngcf import NGCF
from gnnrec.models.scorers import EmbeddingScorer
from gnnrec.models.ssl import SGL, SimGCL, XSimGCL

__all__ = [
    "GFCF",
    "MF",
    "NGCF",
    "SGL",
    "ConvStackRec",
    "EmbeddingScorer",
    "GATRec",
    "GCNRec",
    "HGTRec",
    "ItemKNN",
    "LightGCN",
    "MostPop",
    "RGCNRec",
    "Recommender",
    "SAGERec",
    "Scorer",
    "SimGCL",
    "TransformerRec",
    "XSimGCL",
]
