"""A run directory's guards: one writer at a time, and a run continued only
with the configuration that started it.

- :class:`RunDirLock` takes an exclusive lock on ``<run dir>/.gnnrec.lock``
  (``flock``: the kernel releases it when its process ends, however it
  ends, so a lock left by a killed process is never in the way); the file
  names the holder (pid, host, start time) for the message a second writer
  gets.
- :func:`plan_reuse` decides what a run does with a directory that already
  holds files: start afresh, continue the checkpoint, or skip a finished run,
  refusing to continue a run of another configuration
  (:func:`config_differences`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gnnrec.errors import RunDirError

LOCK_NAME = ".gnnrec.lock"
INTERRUPTED_NAME = "interrupted.json"
"""Written next to a checkpoint saved on a stop signal: the next run into the
directory continues it even without ``train.resume``."""

RUN_FILES = (
    "results.json",
    "error.txt",
    "checkpoint.pt",
    "metrics.jsonl",
    "topk.tsv",
    "per_user.npz",
    "per_category.tsv",
    INTERRUPTED_NAME,
)
"""Files of a previous run that a fresh run into the same directory removes
(with ``split/``), so that nothing of the old run is read as the new one's."""

MAY_CHANGE_ON_RESUME = (
    "logger",
    "train.resume",
    "train.progress",
    "train.checkpoint_every",
    "device",
    "tune_malloc",
    "cache",
    "cache_dir",
    "download",
    "eval.memory_budget_mb",
    "eval.save_topk",
    "eval.save_per_user",
)
"""Keys (and key prefixes) whose change does not change what a continued run
computes; ``train.epochs`` may also be raised. Every other difference between
the stored and the new configuration refuses ``train.resume``."""


def _read_holder(text: str) -> dict[str, Any] | None:
    """The ``{"pid", "host", "since"}`` a lock file holds, or None if it holds none."""
    try:
        info = json.loads(text)
        return {"pid": int(info["pid"]), "host": str(info["host"]), "since": float(info["since"])}
    except (ValueError, KeyError, TypeError):
        return None


def _describe(info: dict[str, Any] | None) -> str:
    """``pid 123 on host, since <time>``, or a plain phrase for an unreadable file."""
    if info is None:
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"]))
    return f"pid {info['pid']} on {info['host']}, since {since}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunDirLock:
    """An exclusive lock on a run directory, held from :meth:`acquire` to
    :meth:`release` (or the end of the process).

    Raises:
        RunDirError: from :meth:`acquire`, when another process holds it.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self.stale: str | None = None
        """The holder named by a lock file whose process had ended, if any."""

    def acquire(self) -> RunDirLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(f"{self.path}: cannot lock the run directory ({err})") from None
            try:
                holder = _read_holder(self.path.read_text(encoding="utf-8"))
            except OSError:
                holder = None
            raise RunDirError(
                f"run directory {self.run_dir} is in use by {_describe(holder)}; "
                "wait for that run to end or choose another directory (hydra.run.dir=...)"
            ) from None
        # a holder still named in the file left it without releasing: it was killed
        previous = _read_holder(os.read(fd, 4096).decode("utf-8", "replace"))
        if (
            previous is not None
            and previous["host"] == socket.gethostname()
            and previous["pid"] > 0
            and not _alive(previous["pid"])
        ):
            self.stale = _describe(previous)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (the file stays; its content no longer matters)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _may_change(key: str) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in MAY_CHANGE_ON_RESUME)


def config_differences(stored: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys whose value differs between a run's stored configuration and a
    new one, as ``key: old -> new`` (``(absent)`` for a missing key); keys of
    :data:`MAY_CHANGE_ON_RESUME` and a raised ``train.epochs`` are not
    differences. ``model.name`` and ``dataset.name`` come first."""
    old, cur = flatten(stored), flatten(new)
    missing = object()
    diffs = []
    for key in sorted(old.keys() | cur.keys()):
        a, b = old.get(key, missing), cur.get(key, missing)
        if a == b or _may_change(key):
            continue
        if key == "train.epochs" and isinstance(a, int) and isinstance(b, int) and b >= a:
            continue
        shown = ["(absent)" if v is missing else repr(v) for v in (a, b)]
        diffs.append(f"{key}: {shown[0]} -> {shown[1]}")
    first = ("model.name:", "dataset.name:")
    return sorted(diffs, key=lambda d: not d.startswith(first))


Action = Literal["fresh", "resume", "finished"]


@dataclass(frozen=True)
class Reuse:
    """What a run does with its directory: ``fresh`` (remove a previous run's
    files and start), ``resume`` (continue ``checkpoint.pt``) or ``finished``
    (the run ended already: skip it). ``note`` says why, for the log."""

    action: Action
    note: str = ""


def plan_reuse(
    run_dir: str | Path, config: Mapping[str, Any], resume: bool, read_config: Any
) -> Reuse:
    """Decide how a run uses ``run_dir``.

    A directory holding a finished run (``results.json``) or a checkpoint is
    continued when ``resume`` is set, or — for a checkpoint written on a stop
    signal (``interrupted.json``) — always, since a requeued pre-empted job
    must go on where it stopped. Continuing requires the stored
    ``config.yaml`` (read by ``read_config(path) -> mapping``) to equal
    ``config`` but for :data:`MAY_CHANGE_ON_RESUME`. Otherwise the run
    starts afresh.

    Raises:
        RunDirError: the stored configuration differs (the keys are named) or
            is missing; nothing has been written.
    """
    run_dir = Path(run_dir)
    finished = (run_dir / "results.json").is_file()
    has_checkpoint = (run_dir / "checkpoint.pt").is_file()
    interrupted = (run_dir / INTERRUPTED_NAME).is_file() and has_checkpoint
    if not (finished or has_checkpoint) or not (resume or interrupted):
        if finished or has_checkpoint:
            return Reuse("fresh", f"{run_dir} holds a previous run: replaced (train.resume=false)")
        return Reuse("fresh")
    why = "train.resume=true" if resume else "its checkpoint was written on a stop signal"
    stored_path = run_dir / "config.yaml"
    if not stored_path.is_file():
        raise RunDirError(
            f"run directory {run_dir} holds a {'finished run' if finished else 'checkpoint'} "
            f"but no config.yaml, so {why} cannot check that it is this configuration's; "
            "choose another directory or remove its files"
        )
    diffs = config_differences(read_config(stored_path), config)
    if diffs:
        shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
        raise RunDirError(
            f"run directory {run_dir} holds a run of another configuration, which {why} "
            f"would continue with this one ({len(diffs)} key(s) differ: {shown}); rerun "
            f"with its configuration ({stored_path}) or choose another directory "
            "(hydra.run.dir=...)"
        )
    if finished:
        return Reuse("finished", f"{run_dir}: finished already ({why}), skipped")
    return Reuse("resume", f"{run_dir}: continuing its checkpoint ({why})")


def clear_run_files(run_dir: str | Path) -> None:
    """Remove a previous run's files (:data:`RUN_FILES` and ``split/``); the
    results first, so the directory never claims a finished run meanwhile."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    split = run_dir / "split"
    if split.is_dir():
        for part in split.glob("*.tsv"):
            part.unlink()
        with contextlib.suppress(OSError):
            split.rmdir()
