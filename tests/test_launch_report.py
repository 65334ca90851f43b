"""What the launcher shows while and after ranks run, whatever the run folder holds: a diverged
(strict-JSON null) loss, a garbage line in events.jsonl, a garbage summary.json."""

from __future__ import annotations

import io
import json
import math

from rich.console import Console

from pinnrun.launch.progress import ProgressView
from pinnrun.launch.runner import EventTail
from pinnrun.launch.train import _report
from pinnrun.results.recorder import write_json


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False), out


def test_event_tail_skips_lines_that_are_not_json_objects_and_restores_non_finite_losses(tmp_path):
    events = tmp_path / "events.jsonl"
    good = {"event": "progress", "step": 3, "phase": "adam", "time": 1.0, "loss": None, "non_finite": {"loss": "nan"}}
    events.write_text("garbage\n[1, 2]\n" + json.dumps(good) + '\n{"half": ')
    read = EventTail(events).read()
    assert len(read) == 1 and read[0]["step"] == 3 and math.isnan(read[0]["loss"])


def test_progress_shows_a_diverged_or_missing_loss_as_text():
    con, out = console()
    view = ProgressView(con)
    with view:
        view.update(
            {
                "event": "start",
                "time": 0.0,
                "total_steps": 10,
                "ranks": 2,
                "scaling": "weak",
                "points": {"global": {"pde": 8}},
            }
        )
        view.update({"event": "progress", "time": 1.0, "step": 5, "phase": "adam", "loss": math.inf})
        view.update({"event": "progress", "time": 2.0, "step": 6, "phase": "adam"})
    lines = out.getvalue().splitlines()
    assert lines[1] == " adam step       5  loss inf  first 5 step(s) with compilation in 1.0 s"
    assert lines[2] == " adam step       6  loss -  1 it/s"


START = {
    "event": "start",
    "time": 100.0,
    "total_steps": 3000,
    "phases": {"adam": 2000, "lbfgs": 1000},
    "ranks": 2,
    "scaling": "weak",
    "points": {"global": {"pde": 8}},
}


def test_each_phase_has_its_bar_says_compiling_and_moves_between_logs():
    con, _ = console()
    view = ProgressView(con)
    view.live = True  # as on a terminal (the console writes to a buffer)
    adam, lbfgs = 0, 1

    def shown(task):
        t = view.progress.tasks[task]
        return t.completed, t.fields["status"]

    view.update(START)
    assert [t.description for t in view.progress.tasks] == ["adam", "lbfgs"]
    assert shown(adam) == (0, "compiling") and shown(lbfgs) == (0, "waiting")
    view.update({"event": "progress", "time": 105.0, "step": 1, "phase": "adam", "loss": 1.0})
    assert shown(adam) == (1, "…")  # no rate from the step that compiled
    view.update({"event": "progress", "time": 106.0, "step": 101, "phase": "adam", "loss": 0.5})
    assert shown(adam) == (101, "100 it/s")
    arrived = view.last[2]
    view.tick(arrived + 0.5)
    assert shown(adam)[0] == 151  # half a second at 100 it/s
    view.tick(arrived + 30)
    assert shown(adam)[0] == 201  # never past where the next log is due
    view.update({"event": "progress", "time": 125.0, "step": 2000, "phase": "adam", "loss": 0.1})
    assert shown(adam) == (2000, "done") and shown(lbfgs) == (0, "compiling")
    view.update({"event": "progress", "time": 140.0, "step": 2001, "phase": "lbfgs", "loss": 0.05})
    assert shown(lbfgs) == (1, "…")
    view.update({"event": "done", "time": 150.0})
    assert shown(lbfgs) == (1000, "done")


def test_a_run_resumed_in_lbfgs_shows_adam_done():
    con, _ = console()
    view = ProgressView(con)
    view.update(START)
    view.update({"event": "progress", "time": 101.0, "step": 2500, "phase": "lbfgs", "loss": 0.05})
    assert [(t.completed, t.fields["status"]) for t in view.progress.tasks] == [(2000, "done"), (500, "…")]


def test_quiet_shows_no_progress():
    con, out = console()
    view = ProgressView(con, quiet=True)
    with view:
        view.update(START)
        view.update({"event": "progress", "time": 105.0, "step": 1, "phase": "adam", "loss": 1.0})
    assert out.getvalue() == ""


def test_a_finished_run_with_a_diverged_loss_is_reported_not_a_crash(tmp_path):
    write_json(
        tmp_path / "summary.json",
        {"status": "finished", "wall_seconds": 2.5, "final_loss": math.nan, "l2_relative_error": math.inf},
    )
    con, out = console()
    assert _report(tmp_path, 0, None, con) == 0
    assert out.getvalue().splitlines()[0] == "finished in 2.5 s, final loss nan, L2 relative error inf"


def test_a_garbage_summary_is_reported_as_a_failure_and_kept(tmp_path):
    (tmp_path / "summary.json").write_text("{not json")
    (tmp_path / "worker.log").write_text("[1,0]<stderr>:ValueError: [bad] thing\n")
    con, out = console()
    assert _report(tmp_path, 3, None, con) == 3
    text = out.getvalue()
    assert "failed: exit status 3" in text and "[1,0]<stderr>:ValueError: [bad] thing" in text
    assert (tmp_path / "summary.json").read_text() == "{not json"  # nothing written is lost


def test_the_rank_that_failed_first_is_reported_and_every_rank_s_reason_kept(tmp_path):
    from pinnrun.results.failures import record_failure

    write_json(tmp_path / "summary.json", {"status": "failed", "reason": "UnknownError: Horovod has been shut down"})
    record_failure(tmp_path, 1, "RuntimeError: boom")
    record_failure(tmp_path, 0, "UnknownError: Horovod has been shut down")
    (tmp_path / "worker.log").write_text("[1,1]<stderr>:RuntimeError: boom\n[1,0]<stderr>:UnknownError: shut down\n")
    con, out = console()
    assert _report(tmp_path, 1, None, con) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "failed: rank 1: RuntimeError: boom"
    assert lines[2] == "[1,1]<stderr>:RuntimeError: boom"  # the failing rank's lines, not rank 0's
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["reason"] == "rank 1: RuntimeError: boom"
    assert summary["rank_reasons"] == {"1": "RuntimeError: boom", "0": "UnknownError: Horovod has been shut down"}


def test_a_rank_killed_without_a_word_is_named_from_its_launcher_s_line():
    from pinnrun.launch.rank_exit import rank_exit

    mpirun = "--------\nmpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 \n(Killed).\n"
    assert rank_exit(mpirun) == "rank 1 on vm was killed by SIGKILL"
    assert rank_exit("gloo_local: rank 0 on h2 exited with status -15\n") == "rank 0 on h2 was killed by SIGTERM"
    assert rank_exit("Process 1 exit with status code 137.\n") == "rank 1 was killed by SIGKILL"
    # horovodrun does not say where: the ranks' heartbeats do
    assert rank_exit("Process 1 exit with status code 137.\n", {0: "a", 1: "b"}) == "rank 1 on b was killed by SIGKILL"
    assert (
        rank_exit("Process 1 exit with status code 255.\n", {1: "b"})
        == "rank 1 on b was lost: killed by a signal, or the connection to b broke (ssh's status 255)"
    )
    assert rank_exit("Process 1 exit with status code 2.\n") == "rank 1 exited with status 2"
    assert rank_exit("nothing about ranks\n") is None
    elastic = (
        "Please check that you have enough resources to run at least 2 Horovod processes. Timeout after 10 "
        "seconds.\nProcess 1 exit with status code 137.\n"
    )
    assert rank_exit(elastic) == (
        "elastic: fewer than 2 ranks (--min-np) for 10 s (--elastic-timeout) after rank 1 was killed by SIGKILL"
    )


# What srun printed on the test cluster when rank 1 on host b was killed with SIGKILL mid-training (the
# rank on a only saw its peer go), trimmed; every rank's own line comes with srun's --label `N: `.
SRUN_KILLED_LOG = """\
srun: error: b: task 1: Killed
0: --------------------------------------------------------------------------
0: An MPI communication peer process has unexpectedly disconnected.  This
0:   Peer host:  b
0: --------------------------------------------------------------------------
srun: forcing job termination
srun: Job step aborted: Waiting up to 32 seconds for job step to finish.
srun: error: a: task 0: Killed
"""


def test_a_rank_killed_under_srun_is_named_with_its_host():
    from pinnrun.launch.rank_exit import rank_exit

    assert rank_exit(SRUN_KILLED_LOG) == "rank 1 on b was killed by SIGKILL"  # the first, not those killed after
    assert (
        rank_exit("srun: error: n07: task 12: Segmentation fault (core dumped)\n")
        == "rank 12 on n07 was killed by SIGSEGV"
    )
    assert rank_exit("srun: error: b: task 1: Out Of Memory\n") == "rank 1 on b ended: Out Of Memory"
    # several tasks in one line: srun names their hosts together, the heartbeats say which is whose
    assert rank_exit("srun: error: a,b: tasks 0-1: Killed\n", {0: "a", 1: "b"}) == "rank 0 on a was killed by SIGKILL"
    assert rank_exit("srun: error: n[1-2]: tasks 2,5: Terminated\n") == "rank 2 was killed by SIGTERM"
    # a rank that exited with a status wrote its own reason or only saw the job go down: not the news
    assert rank_exit("srun: error: b: task 1: Exited with exit code 1\nsrun: error: a: task 0: Killed\n") is None
    assert rank_exit("0: srun: error: b: task 1: Killed\n") is None  # a rank's own output, not srun's


def test_srun_saying_a_rank_was_killed_is_told_from_ranks_that_exited():
    from pinnrun.launch.rank_exit import srun_rank_killed

    assert srun_rank_killed(SRUN_KILLED_LOG)
    assert srun_rank_killed("srun: error: b: task 1: Exited with exit code 143\nsrun: error: a: task 0: Killed\n")
    assert not srun_rank_killed(
        "srun: error: b: task 1: Exited with exit code 143\nsrun: error: a: task 0: Exited with exit code 1\n"
    )
    assert not srun_rank_killed("1: srun: error: b: task 1: Killed\n")


def test_the_failing_rank_s_own_lines_are_shown_under_srun_s_labels():
    from pinnrun.launch.train import rank_errors

    log = "srun: error: n3: task 10: Exited with exit code 1\n 9: fine\n10: Traceback\n10: ValueError: x\n 9: \n"
    assert rank_errors(log, rank=10) == ["10: Traceback", "10: ValueError: x"]
    assert rank_errors(log) == [" 9: fine", "10: Traceback", "10: ValueError: x"]  # no blank line, no srun's
    assert rank_errors(SRUN_KILLED_LOG, keep=2, rank=1) == ["0:   Peer host:  b", "0: " + "-" * 74]  # 1 said nothing
    assert rank_errors("[1,1]<stderr>:x\n[1,0]<stderr>:y\n[0]<stderr>:z\n", rank=0) == [
        "[1,0]<stderr>:y",
        "[0]<stderr>:z",
    ]


def test_a_rank_killed_under_srun_is_the_run_s_reason(tmp_path):
    from pinnrun.results.failures import record_failure

    record_failure(tmp_path, 0, "UnknownError: Horovod has been shut down")  # rank 0 only saw the job go down
    (tmp_path / "worker.log").write_text(SRUN_KILLED_LOG)
    con, out = console()
    assert _report(tmp_path, 137, None, con) == 137
    assert out.getvalue().splitlines()[0] == "failed: rank 1 on b was killed by SIGKILL"
    assert json.loads((tmp_path / "summary.json").read_text())["reason"] == "rank 1 on b was killed by SIGKILL"


def test_a_host_mpirun_lost_is_named():
    from pinnrun.launch.rank_exit import rank_exit

    log = (
        "-----\nORTE has lost communication with a remote daemon.\n\n  HNP daemon   : [[30220,0],0] on node a\n"
        "  Remote daemon: [[30220,0],1] on node b\n\nThis is usually due to ...\n"
    )
    assert rank_exit(log) == (
        "lost contact with host b: mpirun's daemon there stopped answering (the network to it "
        "failed, or the host went down)"
    )


def test_a_host_that_takes_no_connection_is_found_and_named():
    import socket

    from pinnrun.launch.reachability import lost_hosts_reason, unreachable_hosts

    with socket.socket() as listening:
        listening.bind(("127.0.0.2", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert unreachable_hosts(["127.0.0.2"], port) == []
    assert unreachable_hosts(["127.0.0.2", "localhost"], port, timeout=1) == ["127.0.0.2"]  # closed now
    assert lost_hosts_reason(["b"], None) == (
        "lost contact with host b: no answer on the ssh port (22) within 3 s "
        "(the network to it failed, or the host went down)"
    )


def test_mpirun_across_hosts_notices_a_lost_host_within_the_hang_timeout():
    from pinnrun.launch.faults import Faults

    assert Faults(hang_timeout=30).mpirun_parameters() == {
        "oob_tcp_keepalive_time": "10",
        "oob_tcp_keepalive_intvl": "5",
        "oob_tcp_keepalive_probes": "3",
    }
    assert "HOROVOD_GLOO_TIMEOUT_SECONDS" not in Faults(hang_timeout=30).horovod_environment()  # Gloo's 30 s
    assert Faults(hang_timeout=120).horovod_environment()["HOROVOD_GLOO_TIMEOUT_SECONDS"] == "120"


def test_a_rank_that_only_saw_the_job_go_down_is_known_even_with_its_reason_cut():
    from pinnrun.results.failures import knock_on

    assert knock_on("UnknownError: Horovod has been shut down. This was caused by ...")
    cut = (
        "UnknownError: Graph execution error: …(524 characters cut)…ed by an exception on one of the ranks or an "
        "attempt to allreduce, allgather or broadcast a tensor after one of the ranks finished execution."
    )
    assert knock_on(cut)
    assert not knock_on("RuntimeError: injected failure: rank 1 stops at step 5")


def test_steps_going_back_after_an_elastic_reset_show_no_negative_rate():
    con, out = console()
    view = ProgressView(con)
    with view:
        view.update(START)
        view.update({"event": "progress", "time": 101.0, "step": 1, "phase": "adam", "loss": 1.0})
        view.update({"event": "progress", "time": 102.0, "step": 101, "phase": "adam", "loss": 0.5})
        view.update({"event": "progress", "time": 110.0, "step": 51, "phase": "adam", "loss": 0.6})
    assert (
        out.getvalue().splitlines()[-1]
        == " adam step      51  loss 6.0000e-01  back to this step after a reset of the ranks"
    )
    assert view.rate is None and view.progress.tasks[0].completed == 51
