"""Every registered dataset config loads tiny files written in the dataset's real format.

The real files cannot be downloaded here; these fixtures copy their layout
(separators, headers, compression, JSON fields) so that a config that does
not match its format fails in CI, not on a researcher's machine.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gnnrec.data.load import dataset_files, load_dataset
from gnnrec.data.registry import REGISTRY
from gnnrec.data.split import cross_domain_split, predefined_split

CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset"

ML_RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
ML_RATINGS_CSV = (
    "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,4.0,1112484676\n2,2,5.0,1112484819\n"
)
ML_MOVIES_DAT = (
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
    "3::Caf\u00e9 Society: A Story (1995)::Comedy\n"
)
ML_MOVIES_CSV = (
    "movieId,title,genres\n"
    '2,"Jumanji, The (1995)",Adventure|Children\n'
    '29,"City of Lost Children, The (1995)",Adventure|Drama\n'
    "50,Unrated (1995),(no genres listed)\n"
)
LIGHTGCN_TRAIN = "0 0 1 2\n1 1 3\n"
LIGHTGCN_TEST = "0 3\n1 0\n"
AMAZON_CSV = (
    "user_id,parent_asin,rating,timestamp\n"
    "AE22,B00A,5.0,1588687728923\nAE22,B00B,4.0,1588615855070\nAF11,B00A,1.0,1589665266052\n"
)
AMAZON_META = [
    {"main_category": "Books", "title": "A", "parent_asin": "B00A", "categories": ["Books"]},
    {"main_category": None, "title": "B", "parent_asin": "B00B", "categories": []},
    {"main_category": "Movies & TV", "title": "C", "parent_asin": "B00Z", "categories": []},
]


def write_gz(path: Path, text: str) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)


def fixture_files(name: str, folder: Path) -> None:
    """Tiny files in the layout of dataset ``name``'s real files."""
    if name == "ml-1m":
        (folder / "ratings.dat").write_text(ML_RATINGS_DAT)
        (folder / "movies.dat").write_bytes(ML_MOVIES_DAT.encode("latin-1"))
    elif name in ("ml-20m", "ml-25m"):
        (folder / "ratings.csv").write_text(ML_RATINGS_CSV)
        (folder / "movies.csv").write_text(ML_MOVIES_CSV)
    elif name in ("gowalla", "yelp2018", "amazon-book"):
        (folder / "train.txt").write_text(LIGHTGCN_TRAIN)
        (folder / "test.txt").write_text(LIGHTGCN_TEST)
    elif name == "amazon-books-movies":
        write_gz(folder / "Books.csv.gz", AMAZON_CSV)
        write_gz(folder / "Movies_and_TV.csv.gz", AMAZON_CSV.replace("B00", "M00"))
    elif name.startswith("amazon-"):
        csv_file, meta_file = REGISTRY[name].files
        write_gz(folder / csv_file, AMAZON_CSV)
        write_gz(folder / meta_file, "".join(json.dumps(r) + "\n" for r in AMAZON_META))
    else:
        raise AssertionError(f"no fixture for {name}")


DOWNLOADABLE = sorted(n for n, s in REGISTRY.items() if s.downloads and s.config)


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_registered_config_loads_its_format(name: str, tmp_path: Path) -> None:
    fixture_files(name, tmp_path)
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / f"{REGISTRY[name].config}.yaml"))
    cfg.pop("_target_")
    assert cfg["name"] == name and cfg["root"] is None
    # The config reads only files the registry fetches.
    read = {p.name for p in dataset_files(**{**cfg, "root": str(tmp_path)})}
    assert read <= set(REGISTRY[name].files)
    assert read == {p.name for p in tmp_path.iterdir()}
    ds = load_dataset(**{**cfg, "root": str(tmp_path)})
    assert ds.num_interactions > 0
    if name == "ml-1m":
        # ratings >= 4: (1, 1193, 5) and (2, 1193, 4); 1193 is a Drama.
        assert sorted(zip(ds.user_ids[ds.users], ds.item_ids[ds.items], strict=True)) == [
            ("1", "1193"),
            ("2", "1193"),
        ]
        assert ds.category_names.tolist() == ["Drama"]
    if name in ("ml-20m", "ml-25m"):
        # ratings >= 4: items 29 (Adventure|Drama) and 2 (Adventure|Children).
        assert sorted(ds.item_ids.tolist()) == ["2", "29"]
        assert sorted(ds.category_names.tolist()) == ["Adventure", "Children", "Drama"]
    if name in ("gowalla", "yelp2018", "amazon-book"):
        split = predefined_split(ds)
        assert split.counts() == {"train": 5, "valid": 0, "test": 2}
    if name == "amazon-books-movies":
        split = cross_domain_split(ds, target="Movies_and_TV", cold_share=1.0, valid_share=0.0)
        assert set(ds.extras["domain"][split.test]) == {"Movies_and_TV"}
    if name.startswith("amazon-") and REGISTRY[name].files[-1].startswith("meta_"):
        # B00A is Books; B00B has no main_category -> unknown; B00Z is catalogue-only.
        assert sorted(ds.category_names.tolist()) == ["Books", "unknown"]
