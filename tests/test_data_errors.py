"""The bad-input corpus: every malformed input gives one exact, located message.

Each folder of ``tests/bad_input/`` holds the files of one case and the
``dataset.yaml`` (arguments of :func:`load_dataset`, its first line says what
is wrong). ``{root}`` in the expected messages stands for the case folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from gnnrec.data.load import load_dataset
from gnnrec.errors import ConfigError, DataError, SplitError, users_without_training

CORPUS = Path(__file__).parent / "bad_input"

EXPECTED: dict[str, tuple[type[Exception], str]] = {
    "missing_file": (
        DataError,
        "{root}/log.csv: file not found; looked for 'log.csv' in {root} "
        "(set dataset.root to the folder that holds it)",
    ),
    "missing_column": (
        DataError,
        "{root}/log.csv, line 1: missing column 'time'; the file has: user, item, rating",
    ),
    "bad_timestamp": (
        DataError,
        "{root}/log.csv, line 5, column 'time': expected a timestamp (a number or an ISO-8601 "
        "date such as 2024-01-31T12:00:00; set timestamp_format for other layouts), "
        "found 'yesterday'",
    ),
    "bad_date_format": (
        DataError,
        "{root}/log.csv, line 3, column 'time': expected a timestamp in the format '%d/%m/%Y', "
        "found '2024-02-01'",
    ),
    "bad_rating": (
        DataError,
        "{root}/log.csv, line 5, column 'rating': expected a numeric rating, found 'five'",
    ),
    "empty_id": (
        DataError,
        "{root}/log.csv, line 5, column 'user': expected an id, found an empty value",
    ),
    "nul_in_id": (
        DataError,
        "{root}/log.csv, line 4, column 'user': expected an id, found a NUL byte (\\x00) "
        "inside the field",
    ),
    "empty_file": (
        DataError,
        "{root}/log.csv: the file is empty (expected a header line and rows of interactions)",
    ),
    "header_only": (
        DataError,
        "{root}/log.csv: the file has a header but no rows (expected interactions)",
    ),
    "wrong_field_count": (
        DataError,
        "{root}/log.csv, line 5: expected 4 fields separated by ',', found 3: '2,11,4'",
    ),
    "mixed_separators": (
        DataError,
        "{root}/log.tsv, line 4: expected 4 fields separated by '\\t', found 1: '1,11,4,101'; "
        "this line looks separated by ',' (mixed separators)",
    ),
    "header_separator": (
        DataError,
        "{root}/log.tsv, line 1: missing column 'user'; the file has: user,item,rating,time; "
        "the header looks separated by ',' (set sep)",
    ),
    "non_utf8": (
        DataError,
        "{root}/items.csv, line 3, column 'title': bytes that are not UTF-8 (b'\\xe9' at byte 7 "
        "of the line); expected UTF-8 text (re-encode the file, e.g. iconv -f latin1 -t utf-8)",
    ),
    "unknown_category_item": (
        DataError,
        "{root}/items.csv, line 4, column 'item': item '99' does not occur in the interactions; "
        "expected items of the log (set categories.unknown_items: ignore to skip "
        "catalogue-only items)",
    ),
    "hierarchy_cycle": (
        DataError,
        "{root}/tree.csv, line 4: the hierarchy has a cycle: Fiction → Media → Drama → Fiction; "
        "expected child→parent edges of a tree",
    ),
    "hierarchy_two_parents": (
        DataError,
        "{root}/tree.csv, line 5, column 'parent': category 'Drama' has two parents ('Fiction' "
        "on line 2 and 'Theatre'); expected a tree (one parent per category)",
    ),
    "category_not_in_hierarchy": (
        DataError,
        "{root}/items.csv, line 3: category 'Comedy' is not in the hierarchy file; expected a "
        "node of the hierarchy",
    ),
    "kg_link_twice": (
        DataError,
        "{root}/link.tsv, line 3, column 'entity': entity 'e1' is linked twice (first on line "
        "2); expected each entity linked to one of the items",
    ),
    "kg_unknown_relation": (
        ConfigError,
        "dataset.kg.relations names starring, which the KG {root}/kg.tsv does not have; "
        "it has: directed_by",
    ),
    "user_listed_twice": (
        DataError,
        "{root}/users.csv, line 4, column 'user': user '1' is listed twice (first on line 2); "
        "expected one row per user",
    ),
    "jsonl_mixed_types": (
        DataError,
        "{root}/log.jsonl, line 2, column 'user': field 'user' holds a string here but a number "
        "on earlier lines; expected one JSON type per field (quote every id)",
    ),
    "jsonl_bad_json": (
        DataError,
        "{root}/log.jsonl, line 2: expected one JSON object per line (Missing a comma or '}' "
        "after an object member.)",
    ),
    "jsonl_missing_id": (
        DataError,
        "{root}/log.jsonl, line 2, column 'user': expected an id, found no value",
    ),
    "parquet_bad_rating": (
        DataError,
        "{root}/log.parquet, row 3, column 'rating': expected a numeric rating, found 'high'",
    ),
    "not_gzip": (
        DataError,
        "{root}/log.csv.gz: cannot decompress the file (Not a gzipped file (b'us')); expected "
        "gzip-compressed text",
    ),
    "lightgcn_empty": (
        DataError,
        "{root}/train.txt: the file is empty (expected 'user item item ...' lines of interactions)",
    ),
}


def test_every_case_has_an_expected_message() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_input_gives_the_exact_located_message(case: str) -> None:
    folder = CORPUS / case
    config = OmegaConf.to_container(OmegaConf.load(folder / "dataset.yaml"))
    kind, message = EXPECTED[case]
    with pytest.raises(kind) as caught:
        load_dataset(root=str(folder), **config)
    assert str(caught.value) == message.replace("{root}", str(folder))


def test_missing_dataset_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_dataset(
            "x", {"file": "a.csv", "columns": {"user": "u", "item": "i"}}, root=tmp_path / "no"
        )
    assert str(caught.value) == (
        f"{tmp_path / 'no'}: dataset folder not found; looked there for a.csv (set "
        "dataset.root, or GNNREC_SHARED_DATA for the shared datasets)"
    )


def test_typo_in_a_config_key_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("u,i\n1,2\n")
    with pytest.raises(ConfigError) as caught:
        load_dataset("x", {"file": "a.csv", "colums": {}}, root=tmp_path)
    assert str(caught.value) == (
        "dataset.interactions has unknown key(s) colums; expected some of: atomic, columns, "
        "encoding, file, files, files_as, format, header, names, quote, sep, shared_item_ids, "
        "timestamp_format"
    )


def test_split_error_names_the_users_without_training_items() -> None:
    error = users_without_training("random[0.8, 0.1, 0.1]", list(np.array(["7", "9"])), 2)
    assert isinstance(error, SplitError) and isinstance(error, DataError)
    assert str(error) == (
        "split 'random[0.8, 0.1, 0.1]' leaves 2 user(s) with no training interactions "
        "('7', '9'); expected every user with validation or test interactions to keep at "
        "least one in train (raise dataset.kcore or change the split)"
    )
