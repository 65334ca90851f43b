"""Which rank is hung: its heartbeat stopped changing for `hang_timeout` seconds.

Only the launcher's monotonic clock is used: a rank's beat counts from when the
launcher SAW it change, so no clock of another host is compared. Before a rank's
first beat it gets `startup_timeout` from the job's start (ranks import TensorFlow
and join Horovod first). A rank whose last beat says it ended is not watched.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hang:
    rank: int
    host: str | None  # None: the rank never beat, so where it runs is unknown
    pid: int | None
    silent: float  # seconds without a change, as the launcher measured them
    started: bool  # False: never beat at all (stuck starting)


class HangWatch:
    def __init__(self, ranks: int | None, hang_timeout: float, startup_timeout: float, now: float):
        self.ranks, self.hang_timeout, self.startup_timeout = ranks, hang_timeout, startup_timeout
        self.started_at = now
        self.changed: dict[int, float] = {}  # rank -> when the launcher saw its beat change
        self.last: dict[int, dict] = {}  # rank -> its latest beat
        self.gone: set[int] = set()  # ranks whose process is known to have exited

    def observe(self, beats: dict[int, dict], now: float) -> Hang | None:
        """Take the beats read now; the first rank found hung, else None."""
        for rank, beat in beats.items():
            if self.last.get(rank) != beat:
                if self.last.get(rank, {}).get("pid") != beat.get("pid"):
                    self.gone.discard(rank)  # another process beats for it now (elastic: a rank that rejoined)
                self.changed[rank] = now
                self.last[rank] = beat
        for rank in sorted(self.changed):
            beat = self.last[rank]
            if not beat.get("ended") and rank not in self.gone and now - self.changed[rank] > self.hang_timeout:
                return Hang(rank, beat.get("host"), beat.get("pid"), now - self.changed[rank], True)
        if now - self.started_at > self.startup_timeout:
            for rank in range(self.ranks or 0):
                if rank not in self.changed:
                    return Hang(rank, None, None, now - self.started_at, False)
        return None

    def exited(self, rank: int) -> None:
        """A rank known to have exited (its process is gone from this host) is not hung."""
        self.gone.add(rank)
