"""What the launcher does to a running job besides showing it: stop it on a signal, stop
it when a rank hangs, and record in summary.json what it saw that no rank could write.

Signals (SIGINT, SIGTERM, SIGHUP): the first asks every rank to stop at its next chunk
(results/stop_request.py) and gives them `Faults.stop_grace` seconds; then, or at a
second signal, the hard stop. Either way the status is 128+N and the run interrupted by
that signal. A rank whose heartbeat stops (launch/hang_watch.py) is killed with the job.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pinnrun.launch.faults import Faults
from pinnrun.launch.hang_watch import Hang, HangWatch
from pinnrun.launch.rank_exit import srun_rank_killed
from pinnrun.results import strict_json
from pinnrun.results.failures import FAILURES
from pinnrun.results.heartbeat import read_beats
from pinnrun.results.last_good import last_good_checkpoint
from pinnrun.results.launcher_record import process_alive, stat_fields
from pinnrun.results.recorder import write_json
from pinnrun.results.stop_request import request_stop
from pinnrun.results.files import LOG, RUN, SUMMARY

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C; timeout/systemd/CI/scancel; a closed terminal
INTERRUPTED_STATUSES = frozenset(128 + s for s in STOP_SIGNALS)  # 130, 143, 129: the shell's 128+N
HUNG = 1  # the exit status of a job stopped because a rank hung
BEAT_POLL_SECONDS = 1.0  # heartbeats are read once a second (a shared file system is not hammered)
RESULTS_OF_THEIR_OWN = ("finished", "diverged")  # reached before a stop request took effect: kept
HUNG_RANK = "hung rank"  # summary.json's "fault"


class SignalInbox:
    """SIGINT, SIGTERM and SIGHUP are noted, not raised, while the job runs (the poll loop acts
    on them); the previous handlers come back afterwards. Outside the main thread Python cannot
    install handlers: signals then keep their defaults."""

    def __init__(self):
        self.received: list[int] = []
        self.previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self.previous[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, signum, frame) -> None:
        self.received.append(signum)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def take(self) -> list[int]:
        taken = list(self.received)
        del self.received[: len(taken)]
        return taken


class JobWatch:
    def __init__(self, proc: subprocess.Popen, run_dir: Path, console: Console, faults: Faults):
        self.proc, self.run_dir, self.console, self.faults = proc, Path(run_dir), console, faults
        self.stop_signal: int | None = None  # the first signal received
        self.deadline: float | None = None  # when the grace for a clean stop runs out
        self.hard_stopped = False
        self.hang: Hang | None = None
        now = time.monotonic()
        self.hangs = HangWatch(planned_ranks(self.run_dir), faults.hang_timeout, faults.startup_timeout, now)
        self.next_beat_check = now
        # under srun, a rank killed outright leaves the others blocked in an all-reduce (alive and beating)
        # until --hang-timeout; srun's line about it (rank_exit.py) ends the job at once instead
        self.srun_log = LogTail(self.run_dir / LOG) if _launcher(self.run_dir) == "srun" else None

    def check(self, signals: list[int]) -> None:
        """One look, between polls of the job: signals received since the last, the grace, the beats."""
        now = time.monotonic()
        for signum in signals:
            name = signal.Signals(signum).name
            if self.stop_signal is None:
                self.stop_signal, self.deadline = signum, now + self.faults.stop_grace
                self.console.print(f"[yellow]interrupted by {name}: stopping all ranks at their next step…[/yellow]")
                request_stop(self.run_dir, name)
            elif not self.hard_stopped:
                self.console.print(f"[yellow]second signal ({name}): stopping all ranks now[/yellow]")
                self.hard_stop()
        if self.deadline is not None and now > self.deadline and not self.hard_stopped:
            self.console.print(
                f"[yellow]ranks still running {self.faults.stop_grace:g} s after "
                f"{signal.Signals(self.stop_signal).name}: stopping them now[/yellow]"
            )
            self.hard_stop()
        if self.stop_signal is None and self.hang is None and now >= self.next_beat_check:
            self.next_beat_check = now + BEAT_POLL_SECONDS
            if self.srun_log is not None and not self.hard_stopped and srun_rank_killed(self.srun_log.read()):
                self.hard_stop(signal.SIGTERM)  # srun: "forcing job termination", SIGKILL to every task at once
                return
            self.hang = self._hung(now)
            if self.hang is not None:
                self.console.print(f"[red]{escape(hang_line(self.hang, self.faults))}[/red]", highlight=False)
                if self.hang.pid and self.hang.host == socket.gethostname():
                    kill(self.hang.pid)  # a stopped (SIGSTOP) process ignores every other signal
                self.hard_stop(signal.SIGTERM)

    def _hung(self, now: float) -> Hang | None:
        """The first hung rank; a rank of this host whose process is gone exited, it is not hung."""
        beats = read_beats(self.run_dir)
        while (hang := self.hangs.observe(beats, now)) is not None:
            if not (hang.pid and hang.host == socket.gethostname() and not process_alive(hang.pid)):
                return hang
            self.hangs.exited(hang.rank)
        return None

    def hard_stop(self, first: int = signal.SIGINT) -> None:
        self.hard_stopped = True
        stop(self.proc, first)

    def outcome(self) -> int:
        """The job's exit status, once it ended; summary.json gets what no rank could write."""
        if self.hang is None and self.stop_signal is None:
            return self.proc.returncode
        kill_session(self.proc.pid)  # whatever of the job is left on this host
        if self.hang is not None:
            record_hang(self.run_dir, self.hang, self.faults, time.monotonic())
            return HUNG
        summary = strict_json.read_object(self.run_dir / SUMMARY)
        if summary.get("status") in RESULTS_OF_THEIR_OWN and not self.hard_stopped:
            return self.proc.returncode  # it ended by itself before the request took effect
        name = signal.Signals(self.stop_signal).name
        if summary.get("status") != "interrupted" or summary.get("signal") != name:  # ranks stopped too hard to say
            _record(
                self.run_dir / SUMMARY,
                {
                    **summary,
                    "status": "interrupted",
                    "reason": f"stopped by {name}",
                    "signal": name,
                    **last_good_checkpoint(self.run_dir),
                },
            )
        return 128 + self.stop_signal


class LogTail:
    """What was appended to a file since the last read (whole lines)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.offset = path.stat().st_size  # a resumed run's log holds the earlier attempts
        except OSError:
            self.offset = 0

    def read(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return ""
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        return chunk[:end].decode(errors="replace")


def _launcher(run_dir: Path):
    return strict_json.read_object(Path(run_dir) / RUN).get("launcher")


def hang_line(hang: Hang, faults: Faults) -> str:
    if not hang.started:
        return (
            f"rank {hang.rank} never started: no heartbeat {faults.startup_timeout:g} s after launch; stopping the job"
        )
    return (
        f"rank {hang.rank} on {hang.host} hung: no heartbeat for {faults.hang_timeout:g} s (--hang-timeout); "
        "stopping the job"
    )


def record_hang(run_dir: Path, hang: Hang, faults: Faults, now: float) -> None:
    """summary.json: failed, naming the rank and host. The hung rank's failure record is dated when
    it fell silent, so that it comes before the other ranks' (they failed only when the job was
    stopped) and the launcher's report names it."""
    reason = hang_line(hang, faults).removesuffix("; stopping the job")
    # a rank the stop reached may have written "interrupted" by the signal that stopped it: not the news
    summary = {k: v for k, v in strict_json.read_object(run_dir / SUMMARY).items() if k != "signal"}
    _record(
        run_dir / SUMMARY,
        {**summary, "status": "failed", "reason": reason, "fault": HUNG_RANK, **last_good_checkpoint(run_dir)},
    )
    # the launcher's report writes it "rank N: <own reason>"
    own = (
        f"hung on {hang.host}: no heartbeat for {faults.hang_timeout:g} s (--hang-timeout)"
        if hang.started
        else f"never started: no heartbeat {faults.startup_timeout:g} s after launch"
    )
    try:
        (run_dir / FAILURES).mkdir(exist_ok=True)
    except OSError:
        return
    _record(
        run_dir / FAILURES / f"rank-{hang.rank}.json",
        {"rank": hang.rank, "reason": own, "time": time.time() - hang.silent},
    )


def _record(path: Path, data: dict) -> None:
    """Best effort: on a full disk the launcher's report says the status could not be recorded."""
    try:
        write_json(path, data)
    except OSError:
        pass


def planned_ranks(run_dir: Path) -> int | None:
    """From run.json (written before the job starts); None without one: only ranks that beat are watched."""
    run = strict_json.read_object(Path(run_dir) / RUN)
    if run.get("elastic"):  # ranks come and go: only those that beat are watched
        return None
    ranks = run.get("ranks")
    return ranks if isinstance(ranks, int) and not isinstance(ranks, bool) and ranks > 0 else None


def stop(proc: subprocess.Popen, first: int = signal.SIGINT) -> None:
    """`first` to the launcher's process group (horovodrun/mpirun forward it), then harder."""
    for sig, wait in ((first, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_session(session: int) -> None:
    """SIGKILL to every process left in the job's session on this host (the launcher's child led
    it; mpirun gives each rank its own process group, so the group alone misses them)."""
    for pid in _session_members(session):
        kill(pid)


def _session_members(session: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(int(entry))
        if fields and fields[3] == str(session) and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return found
