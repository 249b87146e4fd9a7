"""Stop signals: a run asked to stop (SLURM pre-emption or time limit) writes a
checkpoint at the next step and ends, instead of dying mid-epoch.

SLURM sends ``SIGTERM`` before it kills a pre-empted job, and the signal
named by ``sbatch --signal`` (e.g. ``SIGUSR1``; submitit asks for
``SIGUSR2``) before the time limit. :class:`StopSignals` turns these into a
flag that :meth:`gnnrec.train.loop.Trainer.fit` reads between optimisation
steps; the trainer then writes a checkpoint from which a resumed run
continues exactly, and raises :class:`TrainingInterrupted`. The handlers that
were installed before (submitit's requeue handler, for one) are kept and can
be called once the checkpoint is on disk (:meth:`StopSignals.forward`).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

DEFAULT_SIGNALS = ("SIGTERM", "SIGUSR1", "SIGUSR2")
"""Signals that ask a run to checkpoint and stop: SLURM's pre-emption notice and
the usual ``--signal`` choices (submitit's own is ``SIGUSR2``)."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing its checkpoint.

    Attributes:
        signum: the signal that asked for the stop.
        epoch: the last epoch the checkpoint holds (a resumed run starts after it).
        checkpoint: whether a checkpoint was written (False when the trainer had none).
    """

    def __init__(self, signum: int, epoch: int, checkpoint: bool) -> None:
        self.signum = signum
        self.epoch = epoch
        self.checkpoint = checkpoint
        name = signal_name(signum)
        saved = f"checkpoint after epoch {epoch} written" if checkpoint else "no checkpoint"
        super().__init__(f"stopped by {name} ({saved})")


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, the number itself for an unnamed signal."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


class StopSignals:
    """While active (a ``with`` block), the listed signals set :attr:`received`
    instead of their usual action.

    Only the main thread can install signal handlers; elsewhere (a worker
    thread of a launcher) the object stays inactive and :attr:`received` stays
    None. The previous handlers come back on exit.

    Args:
        names: signal names (``SIGTERM``, ``SIGUSR1``, ...); unknown ones are skipped.
    """

    def __init__(self, names: tuple[str, ...] = DEFAULT_SIGNALS) -> None:
        self.signums = [s for n in names if (s := getattr(signal, n, None)) is not None]
        self.received: int | None = None
        self.previous: dict[int, Any] = {}
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handler) for s in self.signums}
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            for signum, handler in self.previous.items():
                signal.signal(signum, handler)
            self._installed = False

    def requested(self) -> int | None:
        """The signal received so far (the first one), or None."""
        return self.received

    def forward(self, signum: int) -> bool:
        """Hand ``signum`` to the handler that was installed before this object's,
        when that was a Python callable (submitit's requeue handler, which may
        requeue the job and exit); call it after the ``with`` block, once the
        checkpoint is written. Returns whether there was such a handler
        (default and ignore dispositions are not called).
        """
        previous = self.previous.get(signum)
        if not callable(previous):
            return False
        previous(signum, None)
        return True
