"""The notebooks' code cells run as they are (so they cannot rot silently)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_runs(path):
    cells = json.loads(path.read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    namespace: dict = {}
    exec(compile(code, str(path), "exec"), namespace)
    assert namespace["test"].metrics["test/recall@20"] > 0
