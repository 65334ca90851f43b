"""Faults the launcher survives and detects (issue 14): a signal to `pinnrun train`,
`kill -9` of it, a hung rank.

The real runs are 2 ranks of burgers_soft with a tiny net and an Adam phase far longer
than any test waits, each bounded in wall time; rank pids come from the injected
markers (tests/inject/sitecustomize.py), independent of the heartbeats under test. The
plain tests cover the pieces: the hang watch, the launcher record behind `dead`, the
rank's dead summary, Horovod's stall bound.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from helpers import PROBLEMS
from pinnrun.inspect.read import RunFiles, read_run
from pinnrun.inspect.status import run_status
from pinnrun.launch.faults import Faults
from pinnrun.launch.hang_watch import Hang, HangWatch
from pinnrun.launch.job_watch import hang_line, record_hang
from pinnrun.launch.terminal import survive_hangup
from pinnrun.launch.lifeline import DEAD_REASON, launcher_died, record_dead
from pinnrun.results.checkpoints import write_checkpoint
from pinnrun.results.heartbeat import HEARTBEATS, read_beats, write_beat
from pinnrun.results.launcher_record import LAUNCHER, launcher_gone, process_start, record_launcher, this_launcher

LONG = ["network.hidden=[8,8]", "training.adam.steps=1000000", "training.log_every=50", "reference=null"]
START_WAIT = 120  # seconds for 2 ranks to import TensorFlow and log a first step (5-6 s measured, 2 cores)
GONE_WAIT = 10  # seconds every rank may take to disappear after `kill -9` of the launcher (1.1 s measured)
HANG_TIMEOUT = 5
HANG_MARGIN = 10  # detection within HANG_TIMEOUT + this (6.2 s measured from SIGSTOP to the job's end)
# A signal: the ranks stop at their next chunk, or the hard stop after the default 60 s grace (+ its ~20 s).
SIGNAL_WAIT = 100


# --------------------------------------------------------------------------
# the pieces
# --------------------------------------------------------------------------


def beat(rank: int, count: int, ended: bool = False, host: str = "h1", pid: int = 100) -> dict:
    return {"rank": rank, "host": host, "pid": pid + rank, "beat": count, "ended": ended}


def test_a_rank_whose_beat_stops_changing_is_hung_after_the_timeout():
    watch = HangWatch(ranks=2, hang_timeout=30, startup_timeout=300, now=0.0)
    assert watch.observe({0: beat(0, 0), 1: beat(1, 0)}, now=10.0) is None
    for t in range(11, 40):  # rank 0 beats every second, rank 1 fell silent at t=10
        assert watch.observe({0: beat(0, t), 1: beat(1, 0)}, now=float(t)) is None, t
    hang = watch.observe({0: beat(0, 41), 1: beat(1, 0)}, now=40.5)
    assert hang == Hang(rank=1, host="h1", pid=101, silent=30.5, started=True)


def test_silence_counts_from_when_the_launcher_saw_a_change_not_from_the_ranks_clock():
    watch = HangWatch(ranks=1, hang_timeout=30, startup_timeout=300, now=0.0)
    # the first beat appears late (the rank started slowly): the 30 s count from then
    assert watch.observe({0: beat(0, 57)}, now=100.0) is None
    assert watch.observe({0: beat(0, 57)}, now=130.0) is None
    assert watch.observe({0: beat(0, 57)}, now=130.5).rank == 0


def test_before_its_first_beat_a_rank_gets_the_start_up_time():
    watch = HangWatch(ranks=2, hang_timeout=5, startup_timeout=300, now=0.0)
    assert watch.observe({}, now=299.0) is None
    assert watch.observe({0: beat(0, 0)}, now=299.5) is None
    hang = watch.observe({0: beat(0, 1)}, now=300.5)
    assert hang == Hang(rank=1, host=None, pid=None, silent=300.5, started=False)
    assert (
        hang_line(hang, Faults(startup_timeout=300))
        == "rank 1 never started: no heartbeat 300 s after launch; stopping the job"
    )


def test_a_rank_that_ended_or_exited_is_not_hung():
    watch = HangWatch(ranks=3, hang_timeout=5, startup_timeout=300, now=0.0)
    watch.observe({0: beat(0, 1), 1: beat(1, 0, ended=True), 2: beat(2, 1)}, now=1.0)
    watch.exited(2)
    assert watch.observe({0: beat(0, 60), 1: beat(1, 0, ended=True), 2: beat(2, 1)}, now=60.0) is None


def test_without_a_planned_rank_count_only_ranks_that_beat_are_watched():
    watch = HangWatch(ranks=None, hang_timeout=5, startup_timeout=10, now=0.0)
    assert watch.observe({}, now=1000.0) is None


def test_the_hang_line_and_summary_name_the_rank_and_host(tmp_path):
    hang = Hang(rank=1, host="node7", pid=4242, silent=31.0, started=True)
    faults = Faults(hang_timeout=30)
    assert hang_line(hang, faults) == "rank 1 on node7 hung: no heartbeat for 30 s (--hang-timeout); stopping the job"
    # rank 0, stopped by the launcher's SIGTERM, said so; two checkpoints were written before
    (tmp_path / "summary.json").write_text(
        json.dumps({"status": "interrupted", "signal": "SIGTERM", "wall_seconds": 3.0})
    )
    for step in (100, 200):
        write_checkpoint(tmp_path, step, {"p0": np.zeros(2)}, {"step": step}, keep=3)
    record_hang(tmp_path, hang, faults, time.monotonic())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == {
        "status": "failed",
        "reason": "rank 1 on node7 hung: no heartbeat for 30 s (--hang-timeout)",
        "fault": "hung rank",
        "wall_seconds": 3.0,
        "checkpoint": "checkpoints/step-0000000200.npz",
    }
    record = json.loads((tmp_path / "failures" / "rank-1.json").read_text())
    assert record["reason"] == "hung on node7: no heartbeat for 30 s (--hang-timeout)"
    assert record["time"] < time.time() - 30  # dated when it fell silent: before any rank the stop made fail


def test_beats_are_read_back_and_odd_files_skipped(tmp_path):
    write_beat(tmp_path, 0, "h1", 3)
    write_beat(tmp_path, 1, "h2", 0, ended=True)
    (tmp_path / HEARTBEATS / "rank-2.json").write_text('{"rank": 2, "beat": ')  # cut short
    (tmp_path / HEARTBEATS / "rank-3.json").write_text('{"rank": true, "beat": 1, "host": "h", "pid": 1}')
    beats = read_beats(tmp_path)
    assert sorted(beats) == [0, 1]
    assert beats[0] == {"rank": 0, "host": "h1", "pid": os.getpid(), "beat": 3, "ended": False}
    assert beats[1]["ended"] is True
    assert read_beats(tmp_path / "nothing-here") == {}


def test_later_beats_rewrite_the_file_in_place_so_a_full_disk_does_not_silence_a_rank(tmp_path):
    """Measured on a full 64 KiB tmpfs: in-place beats go on, a rename would fail with ENOSPC."""
    write_beat(tmp_path, 0, "h1", 0)
    path = tmp_path / HEARTBEATS / "rank-0.json"
    first = path.stat()
    write_beat(tmp_path, 0, "h1", 12345)
    assert (path.stat().st_ino, path.stat().st_size) == (first.st_ino, first.st_size)
    assert read_beats(tmp_path)[0]["beat"] == 12345
    assert sorted(p.name for p in path.parent.iterdir()) == ["rank-0.json"]


def test_horovod_stall_check_is_set_to_the_hang_bound():
    assert Faults(hang_timeout=30).horovod_environment() == {
        "HOROVOD_STALL_CHECK_TIME_SECONDS": "15",
        "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS": "30",
    }
    assert Faults(hang_timeout=1.5).horovod_environment() == {
        "HOROVOD_STALL_CHECK_TIME_SECONDS": "1",
        "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS": "2",
    }


def test_output_to_a_terminal_that_is_gone_is_dropped_not_raised():
    class HungUp(io.StringIO):
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

    console = Console(file=HungUp(), force_terminal=False)
    survive_hangup(console)
    console.print("interrupted by SIGHUP: stopping all ranks at their next step…")
    console.file.flush()
    assert console.file.gone
    kept = io.StringIO()
    console = Console(file=kept, width=80)
    survive_hangup(console)
    console.print("still here")
    assert kept.getvalue() == "still here\n" and not console.file.gone


def test_rank_0_records_dead_only_where_no_summary_exists(tmp_path):
    record_dead(tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == {"status": "dead", "reason": DEAD_REASON}
    with_checkpoint = tmp_path / "with-checkpoint"
    with_checkpoint.mkdir()
    write_checkpoint(with_checkpoint, 300, {"p0": np.zeros(2)}, {"step": 300}, keep=3)
    record_dead(with_checkpoint)
    assert json.loads((with_checkpoint / "summary.json").read_text())["checkpoint"] == "checkpoints/step-0000000300.npz"
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text('{"status": "finished"}')
    record_dead(other)
    assert json.loads((other / "summary.json").read_text()) == {"status": "finished"}
    assert sorted(p.name for p in other.iterdir()) == ["summary.json"]  # no temporary file left


def test_the_launcher_record_tells_a_live_launcher_from_a_gone_one(tmp_path):
    record_launcher(tmp_path)
    record = json.loads((tmp_path / LAUNCHER).read_text())
    assert record == this_launcher() and record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert launcher_gone(record) is False
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert launcher_gone({**record, "pid": gone.pid}) is True
    assert launcher_gone({**record, "start_ticks": process_start(os.getpid()) + 1}) is True  # the pid was reused
    assert launcher_gone({**record, "boot_id": "another-boot"}) is True  # the host rebooted
    assert launcher_gone({**record, "host": "another-host"}) is None  # cannot tell from here


def test_a_rank_can_tell_that_its_launcher_died(tmp_path):
    assert launcher_died(tmp_path) is False  # no record: cannot tell
    record_launcher(tmp_path)
    assert launcher_died(tmp_path) is False  # this process
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / LAUNCHER).write_text(json.dumps({**this_launcher(), "pid": gone.pid}))
    assert launcher_died(tmp_path) is True
    (tmp_path / LAUNCHER).write_text(json.dumps({**this_launcher(), "pid": gone.pid, "host": "another-host"}))
    assert launcher_died(tmp_path) is False


def status_of(run: Path, gone) -> tuple[str, str | None]:
    return run_status(read_run(run), time.time(), gone=gone)


def test_a_run_without_result_whose_launcher_is_gone_is_dead(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / LAUNCHER).write_text(json.dumps({"pid": 4242, "host": "h1"}))
    assert status_of(tmp_path, gone=lambda record: True) == (
        "dead",
        "the launcher (pid 4242) is gone and left no result",
    )
    assert status_of(tmp_path, gone=lambda record: False)[0] == "running"
    status, reason = status_of(tmp_path, gone=lambda record: None)  # another host: how long it has been quiet
    assert status == "running" and "last write" in reason
    (tmp_path / "summary.json").write_text(json.dumps({"status": "dead", "reason": DEAD_REASON}))
    assert status_of(tmp_path, gone=lambda record: True) == ("dead", DEAD_REASON)  # the ranks' own word wins


def test_a_damaged_or_missing_launcher_record_leaves_the_run_running(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    assert run_status(RunFiles(tmp_path, last_write=time.time()), time.time(), gone=lambda r: True)[0] == "running"
    for text in ('{"pid": "x", "host": "h"}', "[1]", '{"pid": 1'):
        (tmp_path / LAUNCHER).write_text(text)
        assert status_of(tmp_path, gone=lambda record: True)[0] == "running", text


# --------------------------------------------------------------------------
# real 2-rank runs
# --------------------------------------------------------------------------


def distributed():
    """tests/test_distributed.py's helpers (`alive`, `injected`); importing it skips without Horovod."""
    import test_distributed

    return test_distributed


def start_training(out: Path, marks: Path, *flags: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "pinnrun.cli",
        "train",
        str(PROBLEMS / "burgers_soft.yaml"),
        "--np",
        "2",
        "--out",
        str(out),
        *[a for s in LONG for a in ("--set", s)],
        *flags,
    ]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | distributed().injected(marks)
    )


def started_job(tmp_path: Path, cleanup: list, *flags: str) -> tuple[Path, subprocess.Popen, list[int]]:
    """A 2-rank training under tmp_path/run, once it logged a step: (run folder, launcher, rank pids),
    all of them left to `cleanup`."""
    out, marks = tmp_path / "run", tmp_path / "marks"
    proc = start_training(out, marks, *flags)
    cleanup.append(proc.pid)
    pids = training_started(out, marks)
    cleanup.extend(pids)
    return out, proc, pids


def training_started(out: Path, marks: Path) -> list[int]:
    """Both ranks' pids, once rank 0 logged a step."""
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if (out / "metrics.jsonl").exists() and all((marks / f"pid-{r}").exists() for r in range(2)):
            return [json.loads((marks / f"pid-{r}").read_text()) for r in range(2)]
        time.sleep(0.2)
    raise AssertionError("training never started")


def wait_gone(pids: list[int], seconds: float) -> float:
    """Seconds until no pid runs; fails past `seconds`."""
    alive, start = distributed().alive, time.monotonic()
    while any(map(alive, pids)) and time.monotonic() - start < seconds:
        time.sleep(0.1)
    assert not any(map(alive, pids)), f"rank(s) still running: {[p for p in pids if alive(p)]}"
    return time.monotonic() - start


def leftovers(out: Path) -> str:
    """Any process still naming the run folder (mpirun, a rank)."""
    return subprocess.run(["pgrep", "-af", str(out)], capture_output=True, text=True).stdout.strip()


@pytest.fixture
def cleanup():
    """Whatever a failed test leaves: stopped ranks continued and killed, launchers killed."""
    pids = []
    yield pids
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_to_the_launcher_stops_every_rank_and_says_which(tmp_path, sig, cleanup):
    out, proc, pids = started_job(tmp_path, cleanup)
    sent = time.monotonic()
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=SIGNAL_WAIT)
    print(f"launcher exited {time.monotonic() - sent:.1f} s after {sig.name}")
    assert proc.returncode == 128 + sig, output
    assert f"interrupted by {sig.name}: stopping all ranks at their next step" in output
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["signal"]) == ("interrupted", sig.name), summary
    assert summary["reason"].startswith(f"stopped by {sig.name}"), summary  # the ranks add the step and checkpoint
    wait_gone(pids, 5)
    assert leftovers(out) == ""
    assert "Traceback" not in output


@pytest.mark.slow
def test_kill_9_of_the_launcher_leaves_no_rank_and_the_run_reads_dead(tmp_path, cleanup):
    out, proc, pids = started_job(tmp_path, cleanup)
    proc.kill()
    proc.communicate(timeout=10)
    seconds = wait_gone(pids, GONE_WAIT)
    print(f"ranks gone {seconds:.1f} s after kill -9 of the launcher")
    time.sleep(0.5)  # mpirun too
    assert leftovers(out) == ""
    shown = subprocess.run(
        [sys.executable, "-m", "pinnrun.cli", "inspect", str(out), "--json"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "dead"


@pytest.mark.slow
def test_kill_9_of_launcher_and_every_rank_still_reads_dead(tmp_path, cleanup):
    """Nothing could write a summary: launcher.json says whose run it was."""
    out, proc, pids = started_job(tmp_path, cleanup)
    for pid in pids:  # stopped first: no rank's watch thread gets to write anything
        os.kill(pid, signal.SIGSTOP)
    proc.kill()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    wait_gone(pids, GONE_WAIT)
    assert not (out / "summary.json").exists()
    files = read_run(out)
    assert run_status(files, time.time()) == ("dead", f"the launcher (pid {proc.pid}) is gone and left no result")


@pytest.mark.slow
def test_a_stopped_rank_is_found_hung_and_the_job_stopped(tmp_path, cleanup):
    out, proc, pids = started_job(tmp_path, cleanup, "--hang-timeout", str(HANG_TIMEOUT))
    stopped = time.monotonic()
    os.kill(pids[1], signal.SIGSTOP)
    output, _ = proc.communicate(timeout=HANG_TIMEOUT + HANG_MARGIN + 30)
    seconds = time.monotonic() - stopped
    print(f"job ended {seconds:.1f} s after SIGSTOP of rank 1 (--hang-timeout {HANG_TIMEOUT})")
    assert proc.returncode == 1, output
    assert seconds < HANG_TIMEOUT + HANG_MARGIN, output
    host = socket.gethostname()
    line = f"rank 1 on {host} hung: no heartbeat for {HANG_TIMEOUT} s (--hang-timeout); stopping the job"
    assert line in " ".join(output.split()), output  # rich may wrap it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["fault"] == "hung rank"
    assert "rank 1" in summary["reason"] and host in summary["reason"] and "hung" in summary["reason"]
    wait_gone(pids, 5)
    assert leftovers(out) == ""
    assert "Traceback" not in output


@pytest.mark.slow
def test_a_closed_terminal_stops_the_run_cleanly(tmp_path, cleanup):
    """The launcher on a pseudo-terminal that hangs up (a closed ssh session): SIGHUP, and every
    later write to the terminal fails. Before, the launcher died of the failed write, no summary."""
    out, marks = tmp_path / "run", tmp_path / "marks"
    master, slave = os.openpty()

    def own_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    cmd = [
        sys.executable,
        "-m",
        "pinnrun.cli",
        "train",
        str(PROBLEMS / "burgers_soft.yaml"),
        "--np",
        "2",
        "--out",
        str(out),
        *[a for s in LONG for a in ("--set", s)],
    ]
    proc = subprocess.Popen(
        cmd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=own_terminal,
        env=os.environ | distributed().injected(marks),
    )
    os.close(slave)
    cleanup.append(proc.pid)
    stop_reading = threading.Event()
    reader = threading.Thread(target=drain, args=(master, stop_reading), daemon=True)  # the buffer never fills
    reader.start()
    pids = training_started(out, marks)
    cleanup.extend(pids)
    stop_reading.set()
    reader.join()
    os.close(master)  # hang up
    assert proc.wait(timeout=SIGNAL_WAIT) == 128 + signal.SIGHUP
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["signal"]) == ("interrupted", "SIGHUP"), summary
    wait_gone(pids, 5)
    assert leftovers(out) == ""


def drain(fd: int, stop: threading.Event) -> None:
    """Read the terminal's output until told to stop (then the fd is closed, not before)."""
    while not stop.is_set():
        try:
            if select.select([fd], [], [], 0.1)[0] and not os.read(fd, 65536):
                return
        except OSError:  # EIO: every process on the terminal closed it
            return


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_the_local_gloo_launcher_passes_each_stop_signal_to_its_ranks(tmp_path, sig, cleanup):
    """pinnrun's own Gloo launcher, with ranks that only sleep: the signal ends every rank."""
    code = (
        "import os, signal, sys, time\n"
        f"open(os.path.join({str(tmp_path)!r}, 'pid-' + os.environ['HOROVOD_RANK']), 'w').write(str(os.getpid()))\n"
        "signal.signal(signal.SIGHUP, lambda s, f: sys.exit(128 + s))\n"  # as the worker: a handled signal
        "time.sleep(100)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinnrun.launch.gloo_local", "2", sys.executable, "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cleanup.append(proc.pid)
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"pid-{r}").exists() for r in range(2)) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the pid files are written: the ranks run
    pids = [int((tmp_path / f"pid-{r}").read_text()) for r in range(2)]
    cleanup.extend(pids)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) != 0
    wait_gone(pids, 5)
