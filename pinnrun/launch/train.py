"""`pinnrun train`: validate, write the run folder, launch, report."""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pinnrun import __version__
from pinnrun.numbers import sci, text
from pinnrun.errors import PinnrunError
from pinnrun.launch.cluster import Host, load_cluster
from pinnrun.launch.command import LOCAL_NAMES, build_command, plan_launch, printable
from pinnrun.launch.elastic import ELASTIC_TIMEOUT, LOCAL_ELASTIC_HOSTS, elastic_command, elastic_hosts, write_discovery
from pinnrun.launch.faults import Faults
from pinnrun.launch.memory_check import check_plan_memory
from pinnrun.launch.network import local_networks, missing_interfaces
from pinnrun.launch.rank_exit import rank_exit
from pinnrun.launch.reachability import lost_hosts_reason, unreachable_hosts
from pinnrun.launch.resume import check_resumable, prepare_resume
from pinnrun.launch.job_watch import INTERRUPTED_STATUSES
from pinnrun.launch.runner import INTERRUPTED, run_job
from pinnrun.results import strict_json
from pinnrun.results.failures import knock_on, rank_failures
from pinnrun.results.heartbeat import read_beats
from pinnrun.results.last_good import last_good_checkpoint
from pinnrun.results.recorder import write_json
from pinnrun.results.run_folder import check_out, new_run_dir
from pinnrun.results.outcomes import DIVERGED
from pinnrun.problem.build import load_problem
from pinnrun.spec.loader import LoadedSpec, dump_spec
from pinnrun.results.files import LOG, RUN, SPEC, SUMMARY


def resolved_spec(loaded: LoadedSpec, scaling: str | None):
    """The spec as the workers will run it: flags applied, paths made absolute."""
    spec = loaded.spec
    if scaling:
        spec = spec.model_copy(update={"scaling": scaling})
    if spec.reference is not None and spec.reference.file is not None:
        path = (loaded.path.parent / spec.reference.file).resolve()
        spec = spec.model_copy(update={"reference": spec.reference.model_copy(update={"file": str(path)})})
    conditions = {
        name: cond.model_copy(update={"file": str((loaded.path.parent / cond.file).resolve())})
        if cond.kind == "data"
        else cond
        for name, cond in spec.conditions.items()
    }
    return spec.model_copy(update={"conditions": conditions})


def train(
    spec_path: str,
    overrides: list[str],
    np: int | None,
    gpus: bool,
    hosts: list[Host] | None,
    scaling: str | None,
    launcher: str | None,
    cluster_path: str | None,
    out: str | None,
    dry_run: bool,
    console: Console,
    worker_args: tuple[str, ...] = (),
    resume: str | None = None,
    faults: Faults = Faults(),
    elastic: Elastic | None = None,
    verbosity: int = 0,
) -> int:
    """`verbosity` -1: no progress (for scripts); 1: the launch command too."""
    if resume is not None:
        return _resume(
            Path(resume),
            overrides,
            np,
            gpus,
            hosts,
            scaling,
            launcher,
            cluster_path,
            out,
            dry_run,
            console,
            worker_args,
            faults,
            elastic,
            verbosity,
        )
    loaded, _ = load_problem(spec_path, overrides)  # every check, before any rank starts
    cluster = load_cluster(cluster_path) if cluster_path else None
    plan, elastic = _plan(np, gpus, hosts, launcher, cluster, elastic)
    _export_stall_bound(plan, faults)
    spec = resolved_spec(loaded, scaling)
    _check_adapt(spec, elastic)
    plan.notes.extend(check_plan_memory(spec, plan, loaded.expressions))  # ranks x estimate against this host's memory
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    if dry_run:
        placeholder = check_out(out) or Path("runs") / f"{spec.name}-<timestamp>"
        console.print(
            printable(_command(plan, placeholder, worker_args, elastic), plan.env),
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
        return 0
    run_dir = new_run_dir(out, spec.name)
    cmd = _command(plan, run_dir, worker_args, elastic)
    if elastic:
        write_discovery(run_dir, plan.hosts)
    (run_dir / SPEC).write_text(dump_spec(spec))
    write_json(
        run_dir / RUN,
        {
            "command": printable(cmd, plan.env),
            "argv": cmd,
            "launcher": plan.launcher,
            "controller": plan.controller,
            "ranks": plan.ranks,
            "hosts": [h.model_dump() for h in plan.hosts],
            "scaling": spec.scaling,
            "spec_source": str(loaded.path),
            "overrides": list(overrides),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pinnrun": __version__,
            **({"elastic": _elastic_record(elastic)} if elastic else {}),
        },
    )
    _show_command(console, cmd, plan, verbosity)
    if verbosity >= 0:
        console.print(f"starting {plan.ranks} rank(s)… (log: {escape(str(run_dir / LOG))})", highlight=False)
    status, final = run_job(cmd, plan.env, run_dir, console, faults, quiet=verbosity < 0)
    return _report(run_dir, status, final, console, plan)


@dataclass(frozen=True)
class Elastic:
    min_np: int
    max_np: int | None  # None: the hosts' slots, or 2 on this host
    timeout: int = ELASTIC_TIMEOUT  # seconds to wait for min_np ranks, at the start and after a loss


def _plan(np, gpus, hosts, launcher, cluster, elastic: Elastic | None):
    """The launch plan, and the elastic bounds with --max-np filled in."""
    if elastic is None:
        plan = plan_launch(np=np, gpus=gpus, hosts=hosts, launcher=launcher, cluster=cluster)
        _check_interface(plan)
        return plan, None
    if np is not None or gpus or launcher not in (None, "horovodrun"):
        raise PinnrunError(
            "--elastic starts ranks with horovodrun between --min-np and --max-np: "
            "--np, --gpus and --launcher do not apply"
        )
    if cluster is not None and cluster.controller == "mpi" and "controller" in cluster.model_fields_set:
        raise PinnrunError("--elastic runs on Horovod's Gloo controller; the cluster spec asks for mpi")
    given = hosts or (list(cluster.hosts) if cluster else None)
    max_np = elastic.max_np or (sum(h.slots for h in given) if given else len(LOCAL_ELASTIC_HOSTS))
    if elastic.min_np > max_np:
        raise PinnrunError(f"--min-np {elastic.min_np} is more than --max-np {max_np}")
    listed = elastic_hosts(given, max_np)
    plan = plan_launch(np=max_np, hosts=listed, launcher="horovodrun", cluster=cluster)
    _check_interface(plan)
    return plan, Elastic(elastic.min_np, max_np, elastic.timeout)


def _check_interface(plan) -> None:
    """horovodrun serves its rendezvous on the named interface of this host (it fails with a
    KeyError traceback when there is none); mpirun only needs it on the hosts with ranks."""
    missing = missing_interfaces(plan.network_interface) if plan.network_interface else []
    if missing and plan.launcher == "horovodrun":
        raise PinnrunError(
            f"network_interface: {', '.join(missing)} is not an interface of this host "
            f"({', '.join(sorted(local_networks()))} are): horovodrun serves the ranks' rendezvous "
            "on it; name an interface this host shares with the others"
        )


def _elastic_record(elastic: Elastic) -> dict:
    return {"min_np": elastic.min_np, "max_np": elastic.max_np, "timeout": elastic.timeout}


def _export_stall_bound(plan, faults: Faults) -> None:
    """mpirun gives ranks on other hosts only the variables its command lists (-x; horovodrun and
    srun pass the whole environment): Horovod's stall bound is listed too, below the cluster spec's;
    and its daemons there are told to notice a lost host within the same bound."""
    if plan.launcher == "mpirun" and not all(h.name in LOCAL_NAMES for h in plan.hosts):
        for name, value in faults.horovod_environment().items():
            plan.env.setdefault(name, value)
        plan.mca.update(faults.mpirun_parameters())


def _command(plan, run_dir: Path, worker_args: tuple[str, ...], elastic: Elastic | None) -> list[str]:
    if elastic is None:
        return build_command(plan, run_dir, worker_args=worker_args)
    return elastic_command(plan, run_dir, elastic.min_np, elastic.max_np, elastic.timeout, worker_args)


def _resume(
    run_dir: Path,
    overrides: list[str],
    np: int | None,
    gpus: bool,
    hosts: list[Host] | None,
    scaling: str | None,
    launcher: str | None,
    cluster_path: str | None,
    out: str | None,
    dry_run: bool,
    console: Console,
    worker_args: tuple[str, ...],
    faults: Faults,
    elastic: Elastic | None,
    verbosity: int = 0,
) -> int:
    """Continue RUN_DIR from its newest checkpoint, with its own spec; the rank count is the run's
    unless --np/--gpus/--hosts say otherwise (strong scaling re-shards the same global points)."""
    if overrides or scaling or out:
        raise PinnrunError(
            "--resume continues the run with its own spec and folder: "
            "--set, --scaling, --checkpoint-*, --memory-budget, --micro-batch and --out do not apply"
        )
    run_dir = run_dir.resolve()
    found = check_resumable(run_dir)
    loaded, _ = load_problem(run_dir / SPEC, [])  # the spec as the run ran it, checked again
    cluster = load_cluster(cluster_path) if cluster_path else None
    earlier = strict_json.read_object(run_dir / RUN).get("ranks")
    if np is None and hosts is None and elastic is None and isinstance(earlier, int) and earlier >= 1:
        np = earlier
    plan, elastic = _plan(np, gpus, hosts, launcher, cluster, elastic)
    _export_stall_bound(plan, faults)
    _check_adapt(loaded.spec, elastic, earlier if isinstance(earlier, int) else None, plan.ranks)
    plan.notes.extend(check_plan_memory(loaded.spec, plan, loaded.expressions))
    if isinstance(earlier, int) and earlier != plan.ranks:
        plan.notes.append(
            f"resuming on {plan.ranks} rank(s) instead of {earlier}: "
            + (
                "the same global points, sharded anew"
                if loaded.spec.scaling == "strong"
                else "weak scaling: the global point set changes with the ranks"
            )
        )
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    cmd = _command(plan, run_dir, (*worker_args, "--resume"), elastic)
    if dry_run:
        console.print(printable(cmd, plan.env), soft_wrap=True, highlight=False, markup=False)
        return 0
    attempt = prepare_resume(run_dir, found, plan.ranks, {"elastic": _elastic_record(elastic)} if elastic else {})
    if elastic:
        write_discovery(run_dir, plan.hosts)
    if verbosity >= 0:
        console.print(
            f"resuming {escape(str(run_dir))} from step {found.step} (attempt {attempt + 1})…", highlight=False
        )
    _show_command(console, cmd, plan, verbosity)
    status, final = run_job(cmd, plan.env, run_dir, console, faults, quiet=verbosity < 0)
    return _report(run_dir, status, final, console, plan)


def _show_command(console: Console, cmd: list[str], plan, verbosity: int) -> None:
    """The launch command, with -v (run.json always records it; --dry-run prints it alone)."""
    if verbosity > 0:
        console.print(f"[dim]$ {escape(printable(cmd, plan.env))}[/dim]", soft_wrap=True, highlight=False)


def _check_adapt(spec, elastic, ranks_before: int | None = None, ranks: int | None = None) -> None:
    """Adaptive points are state sized by the global point count: elastic resets and a weak-scaling
    resume on other ranks would change it."""
    adapt = spec.sampling.adapt
    if adapt is None:
        return
    if elastic:
        raise PinnrunError("--elastic does not support sampling.adapt yet: drop one of them")
    if adapt.method != "resample" and spec.scaling == "weak" and ranks_before not in (None, ranks):
        raise PinnrunError(
            f"this run's adaptive points ({adapt.method}, weak scaling) are {ranks_before} ranks' "
            f"worth: resume it on {ranks_before} rank(s)"
        )


def _report(run_dir: Path, status: int, final: dict | None, console: Console, plan=None) -> int:
    summary_path = run_dir / SUMMARY
    summary = strict_json.read_object(summary_path)
    if status == 0 and summary.get("status") == "finished":
        l2 = summary.get("l2_relative_error")
        console.print(
            f"[green]finished[/green] in {text(summary.get('wall_seconds'), '.1f')} s, "
            f"final loss {sci(summary.get('final_loss'))}, "
            + (f"L2 relative error {sci(l2)}" if l2 is not None else "no reference to measure error"),
            highlight=False,
        )
        console.print(f"results: {escape(str(run_dir))}", highlight=False)
        return 0
    if status in INTERRUPTED_STATUSES or summary.get("status") == "interrupted":
        if summary.get("status") != "interrupted":  # ranks killed before they could say so
            name = signal.Signals(status - 128).name if status in INTERRUPTED_STATUSES else "a signal"
            summary = {**summary, "status": "interrupted", "reason": f"stopped by {name}"}
            _record(summary_path, summary, console)
        console.print(
            f"[yellow]interrupted[/yellow]: {escape(str(summary.get('reason')))}; "
            f"continue with: pinnrun train --resume {escape(str(run_dir))}",
            highlight=False,
        )
        return status or INTERRUPTED
    if summary.get("status") == "diverged":  # the ranks stopped themselves and said why
        console.print(f"[red]diverged[/red]: {escape(str(summary.get('reason')))}", highlight=False)
        console.print(f"results (partial): {escape(str(run_dir))}", highlight=False)
        return DIVERGED  # whatever the launcher made of the ranks' status (horovodrun: 1)
    # earliest first, but a rank's own reason before those that only saw the job go down
    failures = sorted(rank_failures(run_dir), key=lambda f: knock_on(f["reason"]))
    lost = unreachable_hosts([h.name for h in plan.hosts], plan.ssh_port) if plan else []
    exited = lost_hosts_reason(lost, plan.ssh_port) if lost else _rank_exit(run_dir)
    if lost or (exited and all(knock_on(f["reason"]) for f in failures)):
        # A rank died without a word (kill -9, the OOM killer, a lost host): the ranks that did
        # write a reason only saw the job go down. The launcher's line names the cause.
        failures = []
    first = failures[0] if failures else None
    if summary or not summary_path.exists():  # a garbage summary.json is kept as it is
        summary = _with_first_failure(summary, failures, status)
        full = disk_full(run_dir) if not failures else None
        if full:  # nothing a rank wrote survived: the disk is the likely reason
            summary = {**summary, "reason": full}
        elif exited and not failures:  # a rank died without a word (kill -9, the OOM killer): its launcher said which
            summary = {**summary, "reason": exited}
        summary = {**last_good_checkpoint(run_dir), **summary}  # where --resume would continue from
        _record(summary_path, summary, console)
    reason = summary.get("reason") or (final or {}).get("reason") or f"exit status {status}"
    console.print(f"[red]{escape(str(summary.get('status', 'failed')))}[/red]: {escape(str(reason))}", highlight=False)
    log = run_dir / LOG
    if log.exists():
        console.print("[dim]from the worker log:[/dim]")
        shown = rank_errors(log.read_text(errors="replace"), rank=first["rank"] if first else None)
        console.print("\n".join(shown), markup=False, highlight=False)
    console.print(f"results (partial): {run_dir}; full log: {log}", markup=False, highlight=False)
    return status or 1


def _record(path: Path, summary: dict, console: Console) -> None:
    """The run's status, where it can still be written (a full disk may refuse it)."""
    try:
        write_json(path, summary)
    except OSError as err:
        console.print(f"[red]cannot record the run's status:[/red] {escape(str(err))}", highlight=False)


def _rank_exit(run_dir: Path) -> str | None:
    try:
        with open(run_dir / LOG, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - (1 << 20)))  # the end: the launcher's last words
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    hosts = {rank: beat["host"] for rank, beat in read_beats(run_dir).items() if isinstance(beat.get("host"), str)}
    return rank_exit(text, hosts)


def disk_full(run_dir: Path) -> str | None:
    """'the run folder's disk is full (…)' when its file system has no space left, else None."""
    try:
        fs = os.statvfs(run_dir)
    except OSError:
        return None
    if fs.f_bavail * fs.f_frsize >= 64 * 1024:  # less than a metrics record or two: full
        return None
    return (
        f"the run folder's disk is full: No space left on device ({fs.f_bavail * fs.f_frsize:,} bytes free "
        f"under {run_dir})"
    )


def _with_first_failure(summary: dict, failures: list[dict], status: int) -> dict:
    """The job failed: its reason is the rank that failed first (the others only saw the job go
    down); every failing rank's own reason is kept beside it."""
    if not failures:
        return summary or {"status": "failed", "reason": f"launcher exited with status {status}"}
    first = failures[0]
    return {
        **summary,
        "status": "failed",
        "reason": f"rank {first['rank']}: {first['reason']}",
        "rank_reasons": {str(f["rank"]): f["reason"] for f in failures},
    }


def rank_errors(log_text: str, keep: int = 12, rank: int | None = None) -> list[str]:
    """The ranks' own last stderr lines (horovodrun prefixes them `[r]<stderr>:`, mpirun `[job,r]<stderr>:`;
    srun --label every line of rank r `r: `, padded to the width of the highest rank), rather than the
    launcher's traceback about a rank having exited; only `rank`'s when it is given and has any."""
    lines = log_text.splitlines()
    ranked = [(int(m["tagged"] or m["labelled"]), line) for line in lines if (m := RANK_LINE.match(line))]
    if rank is not None:
        ranked = [(r, line) for r, line in ranked if r == rank] or ranked
    return [line for _, line in ranked][-keep:] or lines[-keep:]


# a rank's own non-blank line: horovodrun's and mpirun's stderr tag, or srun's label
RANK_LINE = re.compile(r"^(?:\[(?:\d+,)?(?P<tagged>\d+)\]<stderr>:|\s*(?P<labelled>\d+): )(?=.*\S)")
