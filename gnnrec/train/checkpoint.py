"""Training checkpoints: everything a killed run needs to continue exactly.

A checkpoint holds the model's and the optimiser's state, every random
state the loop draws from (the run's generator, torch's global generator
that dropout uses, numpy's), the epoch, the early-stopping state with its
best weights, the metric history and the training time so far. It is
written atomically (a temporary file in the same folder, then
``os.replace``), so a kill during the write leaves the previous checkpoint,
and read with ``torch.load(weights_only=True)``: tensors and plain
containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from gnnrec.data.files import atomic_path
from gnnrec.errors import DataError

FORMAT = "gnnrec-checkpoint-1"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors and plain containers) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save({"format": FORMAT, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and containers only).

    Raises:
        DataError: the file is not a readable gnnrec checkpoint.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"not a readable gnnrec checkpoint ({err})", path) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DataError(f"not a gnnrec checkpoint (expected format {FORMAT})", path)
    return state


def random_states(generator: torch.Generator) -> dict[str, Any]:
    """The run's generator, torch's global CPU generator and numpy's global state."""
    kind, keys, pos, has_gauss, gauss = cast(
        "tuple[str, np.ndarray, int, int, float]", np.random.get_state()
    )
    return {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_random_states(states: dict[str, Any], generator: torch.Generator) -> None:
    """Undo :func:`random_states`: every generator continues where it was saved."""
    generator.set_state(states["generator"])
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])


def initial_weights(path: str | Path) -> dict[str, Any]:
    """The weights to start a new run from: a checkpoint's best-validation
    weights (``best_state``) when it has them, else its last ones.

    Raises:
        DataError: the file is not a readable gnnrec checkpoint.
    """
    state = load_checkpoint(path)
    best = state.get("best_state")
    return cast("dict[str, Any]", best if best is not None else state["model"])
