"""pyproject.toml lists every package (it must: conf/ is mapped to gnnrec.conf)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "gnnrec").rglob("__init__.py")
    }
    assert found | {"gnnrec.conf"} == listed


def test_bundled_data_and_configs_are_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    data = config["tool"]["setuptools"]["package-data"]
    assert "**/*.yaml" in data["gnnrec.conf"]
    assert "*/*" in data["gnnrec.data.bundled"]
    assert config["project"]["scripts"]["gnnrec-train"] == "gnnrec.cli.train:main"
