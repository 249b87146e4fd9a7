"""The notebooks run as they are (so they cannot rot silently)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.test_cli_train import gnnrec_train

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_quickstart_code_runs():
    cells = json.loads((NOTEBOOKS / "quickstart.ipynb").read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    namespace: dict = {}
    exec(compile(code, "quickstart.ipynb", "exec"), namespace)
    assert namespace["test"].metrics["test/recall@20"] > 0


@pytest.mark.slow  # a long end-to-end run: `make test-all`
def test_sweep_analysis_notebook_executes_on_a_tiny_sweep(tmp_path, monkeypatch):
    """A real two-configuration sweep, then the notebook through a Jupyter kernel (nbclient)."""
    gnnrec_train(
        "-m",
        "model=mostpop,itemknn",
        "eval.save_per_user=true",
        "logger=none",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    monkeypatch.setenv("GNNREC_SWEEP", str(tmp_path / "sweep"))
    monkeypatch.setenv("GNNREC_REPORT_OUT", str(tmp_path / "report"))
    nb = nbformat.read(NOTEBOOKS / "sweep_analysis.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = json.dumps(outputs)
    assert "2 finished run(s), 0 failed" in text
    assert "mostpop" in text and "itemknn" in text  # the table and the tests name both
    assert (tmp_path / "report" / "pareto.png").is_file()
    assert any("image/png" in o.get("data", {}) for o in outputs)
