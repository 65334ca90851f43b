"""How a run ended, as summary.json's `status` and the exit status of `pinnrun train`."""

from __future__ import annotations

import signal

DIVERGED = 3  # the loss or a gradient stopped being finite; the last good checkpoint is kept
# finished 0; failed 1 (or the launcher's status); interrupted by signal N: 128 + N (launch/job_watch.py)


def interrupted_exit(signal_name: str | None) -> int:
    """The shell's status for a run stopped by that signal (130, Ctrl-C's, when it is unknown)."""
    try:
        return 128 + signal.Signals[signal_name].value
    except KeyError:
        return 128 + signal.SIGINT.value
