"""Facts about the environment a run used (recorded in results.json)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the gnnrec checkout, or None when not in a git repository."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    """Versions of the packages that decide numerical results."""
    import numpy
    import scipy
    import torch_geometric

    import gnnrec

    return {
        "gnnrec": gnnrec.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from gnnrec.errors import ConfigError

        raise ConfigError(
            "device=cuda was asked for but no CUDA device is available (use device=auto)"
        )
    return dev


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (the platform's name elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()}"
