"""How the launcher watches a job for faults (flags of `pinnrun train`)."""

from __future__ import annotations

import math
from dataclasses import dataclass


# Horovod's Gloo gives up on a collective (and on the rendezvous) after this long: a rank on a
# host that was cut off ends the job that way (HOROVOD_GLOO_TIMEOUT_SECONDS sets it).
GLOO_TIMEOUT = 30


@dataclass(frozen=True)
class Faults:
    hang_timeout: float = 30.0  # seconds a rank may go without a heartbeat before the job is stopped
    # After a signal to the launcher, how long the ranks get to stop by themselves at their next chunk
    # boundary (a chunk of steps, or an L-BFGS compile, must be able to finish) before the hard stop.
    stop_grace: float = 60.0
    # Before a rank's first heartbeat: it imports TensorFlow and joins Horovod (3-10 s here; minutes on a
    # busy shared file system), so a rank is only called hung if it never beats within this long.
    startup_timeout: float = 300.0

    def horovod_environment(self) -> dict[str, str]:
        """Horovod's stall check set to the same bound, for ranks that are alive (still beating) but
        wait in a collective another rank never joins. Horovod checks every CHECK seconds (and warns
        then) and shuts down once a tensor waited SHUTDOWN seconds (whole seconds; a shutdown time
        below the check time is ignored): checking at half the bound shuts down between 1 and 1.5
        times `hang_timeout` after the stall began, and the waiting rank fails a few seconds later
        (measured, 2 ranks under mpirun, one of them 40 s late to an all-reduce: with check 5 and
        shutdown 10 the other failed 19.9 s into the wait; the job then ends like a failed rank)."""
        bound = max(1, math.ceil(self.hang_timeout))
        env = {
            "HOROVOD_STALL_CHECK_TIME_SECONDS": str(max(1, math.ceil(bound / 2))),
            "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS": str(bound),
        }
        if bound > GLOO_TIMEOUT:  # a longer bound asked for (slow file systems): Gloo waits as long
            env["HOROVOD_GLOO_TIMEOUT_SECONDS"] = str(bound)
        return env

    def mpirun_parameters(self) -> dict[str, str]:
        """Open MPI's daemons on other hosts keep a TCP connection to mpirun; a host cut off (a
        pulled cable, a dead switch port) leaves a rank blocked in an all-reduce forever, where
        Horovod's stall check cannot run. Keepalive probes on that connection end the job instead:
        mpirun aborts, and the daemon on the lost host kills its ranks. Idle for a third of the
        bound, then 3 probes a sixth apart: lost within about `hang_timeout` (Open MPI's default
        is 300 + 9 x 20 s)."""
        bound = max(3, math.ceil(self.hang_timeout))
        return {
            "oob_tcp_keepalive_time": str(math.ceil(bound / 3)),
            "oob_tcp_keepalive_intvl": str(math.ceil(bound / 6)),
            "oob_tcp_keepalive_probes": "3",
        }
