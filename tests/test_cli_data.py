"""gnnrec-data: commands, option parsing, exports that read back, errors with status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gnnrec.cli.data import main, parse_args
from gnnrec.errors import ConfigError


@pytest.fixture
def cache(tmp_path: Path) -> str:
    return f"cache_dir={tmp_path / 'cache'}"


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_parse_args_maps_commands_and_options() -> None:
    assert parse_args(["stats", "dataset=ml-100k"]) == (["command=stats", "dataset=ml-100k"], False)
    assert parse_args(["export", "--format", "recbole", "--out=x", "--json"]) == (
        ["command=export", "format=recbole", "out=x", "json=true"],
        False,
    )
    assert parse_args(["command=list"]) == (["command=list"], False)
    assert parse_args(["--cfg", "job"]) == ([], True)
    with pytest.raises(ConfigError, match="unknown command 'stat'"):
        parse_args(["stat"])
    with pytest.raises(ConfigError, match="unknown option --fmt"):
        parse_args(["--fmt", "x"])
    with pytest.raises(ConfigError, match="--out needs a value"):
        parse_args(["--out"])


def test_help(capsys: pytest.CaptureFixture) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert out.startswith("usage: gnnrec-data [COMMAND]")
    for command in ("stats", "prepare", "export", "list"):
        assert f"  {command}" in out


def test_stats_as_written_in_the_issue(capsys: pytest.CaptureFixture, cache: str) -> None:
    status, out, _ = run(capsys, "stats", "dataset=ml-100k", cache)
    assert status == 0
    assert "interactions          55,375" in out
    assert "category frequency (19 categories" in out
    assert "test interactions that are cross-category: " in out
    # command= is the same as the positional command
    assert run(capsys, "command=stats", "dataset=ml-100k", cache)[1].count("55,375") == 1


def test_stats_json(capsys: pytest.CaptureFixture, cache: str) -> None:
    status, out, _ = run(capsys, "stats", "--json", "split=leave_one_out", cache)
    assert status == 0
    stats = json.loads(out)
    assert stats["dataset"]["interactions"] == 55375
    # leave-one-out: one test interaction per user with at least two interactions
    assert stats["split"]["test"] == stats["split"]["test_users"] == 942
    assert stats["categories"][0]["category"] == "Drama"
    assert 0 < stats["split"]["test_cross_category_share"] < 1


def test_prepare_builds_then_hits_the_cache(
    capsys: pytest.CaptureFixture, cache: str, tmp_path: Path
) -> None:
    status, out, _ = run(capsys, "prepare", "--json", cache)
    assert status == 0
    facts = json.loads(out)
    assert facts["interactions"] == 55375 and facts["cached_load_s"] is not None
    assert len(list((tmp_path / "cache" / "datasets").glob("ml-100k-*.npz"))) == 1


def test_export_recbole(capsys: pytest.CaptureFixture, cache: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "rb"
    status, out, _ = run(capsys, "export", "--format", "recbole", "--out", str(out_dir), cache)
    assert status == 0 and "benchmark_filename: [train, valid, test]" in out
    sizes = {}
    for part in ("train", "valid", "test"):
        lines = (out_dir / f"ml-100k.{part}.inter").read_text().splitlines()
        assert lines[0] == "user_id:token\titem_id:token\ttimestamp:float"
        sizes[part] = len(lines) - 1
    # The default split: temporal 0.8/0.1/0.1 of ml-100k's 55,375 positive ratings.
    assert sizes == {"train": 45063, "valid": 5156, "test": 5156}
    items = (out_dir / "ml-100k.item").read_text().splitlines()
    assert items[0] == "item_id:token\tcategories:token_seq"
    assert len(items) == 1 + 1447
    assert "1\tAnimation Children's Comedy" in items


def test_export_gnnrec_reads_back_as_predefined(
    capsys: pytest.CaptureFixture, cache: str, tmp_path: Path
) -> None:
    folder = tmp_path / "split"
    assert (
        run(capsys, "export", "--format", "gnnrec", "--out", str(folder), "split=random", cache)[0]
        == 0
    )
    status, out, _ = run(
        capsys, "stats", "--json", "split=predefined", f"split.folder={folder}", cache
    )
    assert status == 0
    split = json.loads(out)["split"]
    assert split["method"].startswith("random_per_user")
    assert (split["train"], split["valid"], split["test"]) == (45063, 5156, 5156)


def test_list(capsys: pytest.CaptureFixture, cache: str) -> None:
    status, out, _ = run(capsys, "list", cache)
    assert status == 0
    assert "ml-100k" in out and "bundled" in out and "ml-20m" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "dataset=nope"], "Could not find 'dataset/nope' (available datasets: "),
        (["bogus"], "unknown command 'bogus'"),
        (["stats", "split.ratios=[0,0.5,0.5]"], "no training interaction (e.g. raw user ids"),
        (["export", "--format", "csv"], "format must be recbole or gnnrec"),
        (["prepare", "dataset=ml-1m", "--offline"], "put it in "),
        (["stats", "dataset.root=/nonexistent"], "dataset folder not found"),
    ],
)
def test_errors_exit_2_without_traceback(
    capsys: pytest.CaptureFixture, cache: str, args: list[str], message: str
) -> None:
    status, _, err = run(capsys, *args, cache)
    assert status == 2
    assert err.splitlines()[-1].startswith("gnnrec-data: error: ")
    assert message in err
    assert "Traceback" not in err


def test_console_script(tmp_path: Path) -> None:
    # the script installed next to the interpreter running the tests (the venv's
    # bin/), whether or not that folder is on PATH
    exe = Path(sys.executable).parent / "gnnrec-data"
    assert exe.is_file(), f"gnnrec-data is not installed next to {sys.executable}"
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("usage: gnnrec-data")
    done = subprocess.run(
        [str(exe), "stats", "dataset=nope", f"cache_dir={tmp_path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
