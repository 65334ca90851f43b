"""The `pinnrun` command line."""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager

import click
from rich.console import Console

from pinnrun import __version__
from pinnrun.errors import PinnrunError, SpecErrors, one_line, os_error_line

INTERRUPTED = 130  # the shell's status for a job stopped by Ctrl-C


def _guard(fn, *args, **kwargs) -> None:
    """Every command runs through here: bad input (PinnrunError, or an OSError such as an
    unwritable --out) is one line on stderr and exit 2; anything else is a bug, said in one
    line with exit 1 (PINNRUN_DEBUG=1 shows its traceback). Never a traceback by default."""
    try:
        code = fn(*args, **kwargs)
    except SpecErrors as err:  # every problem of a spec found in one pass: one line each
        for line in err.lines[:-1]:
            click.echo(one_line(f"error: {line}"), err=True)
        _fail(f"error: {err.lines[-1]}", err.exit_code)
    except PinnrunError as err:
        _fail(f"error: {err}", err.exit_code)
    except BrokenPipeError:  # `pinnrun inspect ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as err:
        _fail(f"error: {os_error_line(err)}", 2)
    except KeyboardInterrupt:
        _fail("interrupted", INTERRUPTED)
    except Exception as err:  # noqa: BLE001 - RecursionError, MemoryError (and any bug) included
        if os.environ.get("PINNRUN_DEBUG") == "1":
            traceback.print_exc()
        what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        _fail(f"internal error: {what} (set PINNRUN_DEBUG=1 for the traceback)", 1)
    sys.exit(code or 0)


def _fail(line: str, code: int) -> None:
    click.echo(one_line(line), err=True)
    sys.exit(code)


@contextmanager
def _one_line_usage():
    """click's own usage errors quote the offending value: keep that value printable and short."""
    try:
        yield
    except click.ClickException as err:
        err.message = one_line(err.message)
        raise


class _Commands(click.Group):
    def make_context(self, *args, **kwargs):
        with _one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _one_line_usage():
            return super().invoke(ctx)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pinnrun")
def main() -> None:
    """Train physics-informed neural networks data-parallel with Horovod."""


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a spec field, e.g. --set training.adam.steps=2000 (repeatable).",
)
def validate(spec: str, overrides: tuple[str, ...]) -> None:
    """Check a problem spec and exit: 0 if valid, 2 with one line saying what is wrong."""

    def run() -> int:
        from pinnrun.problem.build import load_problem
        from pinnrun.spec.memory import memory_line

        loaded, problem = load_problem(spec, list(overrides))
        s = loaded.spec
        terms = ", ".join(f"{t.name}={t.points}" for t in problem.terms)
        click.echo(f"{spec}: valid ({s.name}; terms {terms}; scaling {s.scaling})")
        click.echo(f"memory: {memory_line(s, loaded.expressions)}")
        return 0

    _guard(run)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--resume",
    "resume",
    type=click.Path(file_okay=False),
    metavar="RUN_DIR",
    help="Continue a stopped, failed or interrupted run from its last checkpoint (no SPEC).",
)
@click.option("--np", "np_", type=click.IntRange(min=1), help="Number of ranks (processes).")
@click.option(
    "--gpus",
    is_flag=True,
    help="One GPU per rank (without --np: one rank per GPU here); CPU ranks where there is no GPU.",
)
@click.option("--hosts", help="Hosts with slots, e.g. h1:2,h2:2.")
@click.option("--scaling", type=click.Choice(["weak", "strong"]), help="Override the spec's scaling mode.")
@click.option("--launcher", type=click.Choice(["horovodrun", "mpirun", "srun"]), help="How ranks are started.")
@click.option("--cluster", "cluster_path", type=click.Path(dir_okay=False), help="Cluster spec YAML.")
@click.option("--out", help="Run folder (new or empty); default runs/<name>-<time>.")
@click.option("--dry-run", is_flag=True, help="Print the exact launch command and exit.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec field (repeatable).")
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    metavar="STEPS",
    help="Checkpoint every STEPS steps (training.checkpoint.every_steps).",
)
@click.option(
    "--checkpoint-minutes",
    type=click.FloatRange(min=0, min_open=True),
    metavar="MINUTES",
    help="Also checkpoint when MINUTES passed since the last (training.checkpoint.every_minutes).",
)
@click.option(
    "--memory-budget",
    metavar="SIZE",
    help="Memory a rank's training may hold, e.g. 8GiB: its points "
    "are evaluated in micro-batches that fit (training.memory_budget).",
)
@click.option(
    "--micro-batch",
    type=click.IntRange(min=1),
    metavar="POINTS",
    help="Evaluate each rank's points in micro-batches of at most POINTS (training.micro_batch).",
)
@click.option(
    "--hang-timeout",
    type=click.FloatRange(min=1, max=86400),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="A rank silent this long is hung: the job stops.",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0, max=86400),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="After a signal, how long ranks get to stop at a step before they are killed.",
)
@click.option(
    "--elastic", is_flag=True, help="Horovod elastic: a lost rank does not end the run (with --min-np, --max-np)."
)
@click.option(
    "--min-np",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Elastic: the fewest ranks training continues on.",
)
@click.option(
    "--max-np",
    type=click.IntRange(min=1),
    help="Elastic: the most ranks (default: the hosts' slots, or 2 on this host).",
)
@click.option(
    "--elastic-timeout",
    type=click.IntRange(min=1, max=86400),
    default=120,
    show_default=True,
    metavar="SECONDS",
    help="Elastic: how long to wait for --min-np ranks before the run fails.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress: only the result (for scripts).")
@click.option("-v", "--verbose", is_flag=True, help="Also print the launch command.")
def train(
    spec,
    resume,
    np_,
    gpus,
    hosts,
    scaling,
    launcher,
    cluster_path,
    out,
    dry_run,
    overrides,
    checkpoint_every,
    checkpoint_minutes,
    memory_budget,
    micro_batch,
    hang_timeout,
    stop_grace,
    elastic,
    min_np,
    max_np,
    elastic_timeout,
    quiet,
    verbose,
) -> None:
    """Train SPEC data-parallel and write a run folder (or continue one with --resume)."""

    def run() -> int:
        from pinnrun.launch.cluster import parse_hosts
        from pinnrun.launch.train import Elastic, Faults, train as run_train

        sets = list(overrides)
        if checkpoint_every is not None:
            sets.append(f"training.checkpoint.every_steps={checkpoint_every}")
        if checkpoint_minutes is not None:
            sets.append(f"training.checkpoint.every_minutes={checkpoint_minutes}")
        if memory_budget is not None:  # the flag replaces the spec's choice, whichever it was
            sets += [f"training.memory_budget={memory_budget}", "training.micro_batch=null"]
        if micro_batch is not None:
            sets += [f"training.micro_batch={micro_batch}", "training.memory_budget=null"]
        if quiet and verbose:
            raise PinnrunError("-q and -v: give one of them")
        if (spec is None) == (resume is None):
            raise PinnrunError("give a SPEC to train, or --resume RUN_DIR to continue a run (not both)")
        host_list = parse_hosts(hosts) if hosts else None
        if not elastic and (max_np is not None or min_np != 1 or elastic_timeout != 120):
            raise PinnrunError("--min-np, --max-np and --elastic-timeout are for --elastic")
        scheme = Elastic(min_np, max_np, elastic_timeout) if elastic else None
        return run_train(
            spec,
            sets,
            np_,
            gpus,
            host_list,
            scaling,
            launcher,
            cluster_path,
            out,
            dry_run,
            Console(),
            resume=resume,
            faults=Faults(hang_timeout=hang_timeout, stop_grace=stop_grace),
            elastic=scheme,
            verbosity=verbose - quiet,
        )

    _guard(run)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--nodes", type=click.IntRange(1, 65_536), required=True, help="SLURM nodes.")
@click.option("--ntasks-per-node", type=click.IntRange(1, 4096), required=True, help="Ranks per node.")
@click.option("--gpus-per-node", type=click.IntRange(1, 4096), help="GPUs per node (#SBATCH --gpus-per-node).")
@click.option("--time", "time_limit", metavar="TIME", help="Time limit, e.g. 90, 1:30:00, 2-00:00:00.")
@click.option("--partition", help="SLURM partition.")
@click.option("--account", help="SLURM account.")
@click.option("--out", help="Run folder (new or empty); default runs/<name>-<time>.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec field (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print the batch script; submit nothing.")
def sbatch(
    spec, nodes, ntasks_per_node, gpus_per_node, time_limit, partition, account, out, overrides, dry_run
) -> None:
    """Write a SLURM batch script that trains SPEC and submit it with sbatch."""

    def run() -> int:
        from pinnrun.launch.sbatch import BatchJob, sbatch as submit

        job = BatchJob(nodes, ntasks_per_node, gpus_per_node, time_limit, partition, account)
        return submit(spec, list(overrides), job, out, dry_run, Console())

    _guard(run)


def _int_list(ctx, param, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, e.g. 1,2,4,8; got '{value}'")
    if not items or min(items) < 1:
        raise click.BadParameter(f"expected numbers >= 1; got '{value}'")
    return items


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--mode",
    type=click.Choice(["weak", "strong", "points"]),
    default="weak",
    show_default=True,
    help="weak: points per rank fixed; strong: global points fixed; points: h-analysis.",
)
@click.option(
    "--sweep",
    callback=_int_list,
    default="1,2",
    show_default=True,
    metavar="K,K,...",
    help="Rank counts to measure (weak/strong).",
)
@click.option(
    "--points",
    "counts",
    callback=_int_list,
    metavar="N,N,...",
    help="Global collocation points per PDE term (points mode).",
)
@click.option(
    "--seeds", type=click.IntRange(min=1), default=8, show_default=True, help="Trainings per point count (points mode)."
)
@click.option(
    "--np", "np_", type=click.IntRange(min=1), default=1, show_default=True, help="Ranks per training (points mode)."
)
@click.option(
    "--steps",
    type=click.IntRange(min=3),
    help="Adam steps per training, no L-BFGS (default: the spec's training as written).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Trainings per size; the table shows medians.",
)
@click.option("--oversubscribe", is_flag=True, help="Also run sizes beyond this host's cores/GPUs (marked).")
@click.option(
    "--predict",
    callback=_int_list,
    default="16,32,64,128,256,512,1024",
    show_default=True,
    metavar="K,K,...",
    help="Rank counts the cost model predicts.",
)
@click.option("--gpus", is_flag=True, help="One GPU per rank (CPU ranks where there is none).")
@click.option("--hosts", help="Hosts with slots, e.g. h1:2,h2:2.")
@click.option("--launcher", type=click.Choice(["horovodrun", "mpirun", "srun"]), help="How ranks are started.")
@click.option("--cluster", "cluster_path", type=click.Path(dir_okay=False), help="Cluster spec YAML.")
@click.option("--out", help="Study folder (new or empty); default runs/scale-<name>-<mode>-<time>.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec field (repeatable).")
def scale(
    spec,
    mode,
    sweep,
    counts,
    seeds,
    np_,
    steps,
    repeat,
    oversubscribe,
    predict,
    gpus,
    hosts,
    launcher,
    cluster_path,
    out,
    overrides,
) -> None:
    """Scaling study of SPEC: time per step, speedup, efficiency, error; or an h-analysis."""

    def run() -> int:
        from pinnrun.launch.cluster import parse_hosts
        from pinnrun.scale.runner import Launch

        launch = Launch(gpus, parse_hosts(hosts) if hosts else None, launcher, cluster_path)
        console = Console(width=None if sys.stdout.isatty() else 150)  # tables whole in logs and pipes
        if mode == "points":
            from pinnrun.scale.hanalysis import run_points

            if not counts:
                raise PinnrunError("--mode points needs --points, e.g. --points 128,256,512,1024")
            return run_points(spec, counts, seeds, np_, steps, launch, list(overrides), out, console)
        from pinnrun.scale.sweep import run_sweep

        return run_sweep(
            spec, mode, sweep, steps, repeat, launch, oversubscribe, list(overrides), out, console, tuple(predict)
        )

    _guard(run)


@main.command()
@click.option(
    "--hosts",
    help="Also check these hosts, e.g. h1:2,h2:2: ssh, the same install and versions, "
    "the network between them, a live all-reduce.",
)
@click.option(
    "--cluster",
    "cluster_path",
    type=click.Path(dir_okay=False),
    help="Check the hosts of this cluster spec YAML (with its network_interface, ssh_port, env, launcher, controller).",
)
def doctor(hosts, cluster_path) -> None:
    """Check the installation: versions, Horovod build, launchers, GPUs, cores (and other hosts with --hosts)."""

    def run() -> int:
        if hosts or cluster_path:
            from pinnrun.doctor.hosts import run_doctor_hosts

            return run_doctor_hosts(hosts, cluster_path, Console())
        from pinnrun.doctor.local import run_doctor

        return run_doctor(Console())

    _guard(run)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="PATH...")
@click.option(
    "--plot",
    is_flag=True,
    help="Write loss and solution PNGs into each run folder; with several "
    "runs, one PNG of their loss and error curves overlaid.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="The overlay PNG of several runs (default runs-compare.png); never overwritten.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the same content as one JSON object on stdout.")
@click.option(
    "--sort",
    type=click.Choice(["name", "error", "time"]),
    default="name",
    show_default=True,
    help="Order of the runs in a table of several.",
)
def inspect(paths: tuple[str, ...], plot: bool, out: str | None, as_json: bool, sort: str) -> None:
    """Show a run folder (status, times, losses, error, loss curve), compare every run under PATH, or
    compare the runs named."""

    def run() -> int:
        from pinnrun.inspect.command import inspect as run_inspect

        return run_inspect(list(paths), plot, as_json, sort, Console(), out)

    _guard(run)


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--points",
    "points_file",
    type=click.Path(dir_okay=False),
    help="Points file (.npz, .csv or .mat) with one column per input, named like the inputs.",
)
@click.option("--grid", metavar="x=0:1:101,...", help="A grid instead: NAME=START:STOP:COUNT for every input.")
@click.option(
    "--outputs",
    "names",
    metavar="u,u_x,...",
    help="What to evaluate: outputs, derivatives (u_x, u_xt), derived quantities or expressions "
    "of them (default: the outputs and derived quantities).",
)
@click.option("--out", required=True, help="File to write (.npz or .csv); never overwritten.")
def predict(run_dir, points_file, grid, names, out) -> None:
    """Evaluate the trained model of RUN_DIR at new points."""

    def run() -> int:
        from pinnrun.quiet import quiet_tensorflow

        quiet_tensorflow()
        from pinnrun.results.predict import run_predict

        return run_predict(run_dir, points_file, grid, names, out, click.echo)

    _guard(run)


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option("--out", help="Folder to write (new or empty); default RUN_DIR/export.")
@click.option(
    "--outputs",
    "names",
    metavar="u,u_x,...",
    help="What the model serves (default: the outputs and derived quantities).",
)
def export(run_dir, out, names) -> None:
    """Write the trained model of RUN_DIR as a TensorFlow SavedModel (loads without pinnrun)."""

    def run() -> int:
        from pinnrun.quiet import quiet_tensorflow

        quiet_tensorflow()
        from pinnrun.results.export import export as run_export
        from pinnrun.results.predict import parse_names

        return run_export(run_dir, out, parse_names(names) if names else None, click.echo)

    _guard(run)


@main.command()
@click.argument("kind", type=click.Choice(["problem", "cluster"]), default="problem")
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default: standard output).")
def schema(kind, out) -> None:
    """Write the JSON Schema of a problem spec (or a cluster spec), for editors."""

    def run() -> int:
        import json

        from pinnrun.spec.json_schema import json_schema

        text = json.dumps(json_schema(kind), indent=2) + "\n"
        if out is None:
            click.echo(text, nl=False)
        else:
            with open(out, "x") as f:  # never over an existing file
                f.write(text)
            click.echo(f"JSON Schema of a {kind} spec -> {out}")
        return 0

    _guard(run)


if __name__ == "__main__":
    main()
