"""Data: readers, the canonical dataset, splits (no torch.nn here)."""

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.load import load_dataset
from gnnrec.data.split import Split, temporal_split

__all__ = ["InteractionDataset", "Split", "load_dataset", "temporal_split"]
