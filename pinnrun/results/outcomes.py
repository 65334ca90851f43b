"""How a run ended, as summary.json's `status` and the exit status of `pinnrun train`."""
from __future__ import annotations

DIVERGED = 3  # the loss or a gradient stopped being finite; the last good checkpoint is kept
# finished 0; failed 1 (or the launcher's status); interrupted by signal N: 128 + N (launch/job_watch.py)
