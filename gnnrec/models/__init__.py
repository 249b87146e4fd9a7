"""Recommender models: plain ``nn.Module``s, no configuration objects inside."""

from gnnrec.models.base import Recommender, Scorer
from gnnrec.models.behavior import MBLightGCN
from gnnrec.models.cascade import CascadeGCN
from gnnrec.models.catgraph import CategoryGraphRec
from gnnrec.models.conv import ConvStackRec, GCNRec, SAGERec, TransformerRec
from gnnrec.models.crossdomain import CrossDomainGCN
from gnnrec.models.dgcn import DGCN
from gnnrec.models.dgrec import DGRec
from gnnrec.models.gat import GATRec
from gnnrec.models.gfcf import GFCF
from gnnrec.models.hetero import HGTRec, RGCNRec
from gnnrec.models.itemknn import ItemKNN
from gnnrec.models.lightgcn import LightGCN
from gnnrec.models.mf import MF
from gnnrec.models.mostpop import MostPop
from gnnrec.models.ngcf import NGCF
from gnnrec.models.scorers import EmbeddingScorer
from gnnrec.models.sequential import SASRec, SeqLightGCN
from gnnrec.models.ssl import SGL, SimGCL, XSimGCL
from gnnrec.models.text import TextLightGCN

__all__ = [
    "DGCN",
    "GFCF",
    "MF",
    "NGCF",
    "SGL",
    "CascadeGCN",
    "CategoryGraphRec",
    "ConvStackRec",
    "CrossDomainGCN",
    "DGRec",
    "EmbeddingScorer",
    "GATRec",
    "GCNRec",
    "HGTRec",
    "ItemKNN",
    "LightGCN",
    "MBLightGCN",
    "MostPop",
    "RGCNRec",
    "Recommender",
    "SAGERec",
    "SASRec",
    "Scorer",
    "SeqLightGCN",
    "SimGCL",
    "TextLightGCN",
    "TransformerRec",
    "XSimGCL",
]
