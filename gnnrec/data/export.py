"""Writing a split for other frameworks: RecBole atomic benchmark files.

``export_recbole(split, folder)`` writes ``<name>.train.inter``,
``<name>.valid.inter``, ``<name>.test.inter`` (header
``user_id:token	item_id:token	timestamp:float``, raw ids) and
``<name>.item`` (``item_id:token	categories:token_seq``), so that RecBole
runs on exactly this split with ``benchmark_filename: [train, valid, test]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.files import write_delimited
from gnnrec.data.split import PARTS, Split

INTER_HEADER = "user_id:token\titem_id:token\ttimestamp:float"
ITEM_HEADER = "item_id:token\tcategories:token_seq"


def item_category_labels(dataset: InteractionDataset, sep: str = " ") -> pa.Array:
    """``[num_items]`` text: each item's category names joined by ``sep``.

    Spaces inside a name become ``_`` so that the joined text splits back
    into the same names (RecBole's ``token_seq``). Items without a category
    get an empty string.
    """
    ic = dataset.item_categories.tocsr()
    ic.sort_indices()
    names = pc.replace_substring(pa.array(dataset.category_names.astype(str)), " ", "_")
    flat = pc.take(names, pa.array(ic.indices.astype(np.int64)))
    lists = pa.ListArray.from_arrays(pa.array(ic.indptr.astype(np.int32)), flat)
    return pc.binary_join(lists, sep)


def export_recbole(split: Split, folder: str | Path, name: str | None = None) -> list[Path]:
    """Write the split as RecBole atomic benchmark files; returns the paths written.

    Args:
        split: the split to export (dropped interactions are left out).
        folder: output folder (RecBole's ``data_path/<name>``).
        name: dataset name in the file names; the dataset's name by default.
    """
    ds = split.dataset
    name = name or ds.name
    folder = Path(folder)
    written = []
    for part in PARTS:
        idx = split.part(part)
        table = pa.table(
            {
                "user_id": pa.array(ds.user_ids[ds.users[idx]]),
                "item_id": pa.array(ds.item_ids[ds.items[idx]]),
                "timestamp": pa.array(ds.timestamps[idx], pa.float64()),
            }
        )
        written.append(write_delimited(folder / f"{name}.{part}.inter", table, "\t", INTER_HEADER))
    items = pa.table({"item_id": pa.array(ds.item_ids), "categories": item_category_labels(ds)})
    written.append(write_delimited(folder / f"{name}.item", items, "\t", ITEM_HEADER))
    return written


def recbole_config(name: str) -> str:
    """The RecBole config lines that load an :func:`export_recbole` folder."""
    return (
        f"dataset: {name}\n"
        "benchmark_filename: [train, valid, test]\n"
        "load_col:\n"
        "  inter: [user_id, item_id, timestamp]\n"
        "  item: [item_id, categories]\n"
    )
