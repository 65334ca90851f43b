"""The `pinnrun` command line."""
from __future__ import annotations

import sys

import click
from rich.console import Console

from pinnrun import __version__
from pinnrun.errors import PinnrunError


def _guard(fn, *args, **kwargs) -> None:
    """Bad input: one line on stderr and exit 2, never a traceback."""
    try:
        code = fn(*args, **kwargs)
    except PinnrunError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    sys.exit(code or 0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pinnrun")
def main() -> None:
    """Train physics-informed neural networks data-parallel with Horovod."""


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a spec field, e.g. --set training.adam.steps=2000 (repeatable).")
def validate(spec: str, overrides: tuple[str, ...]) -> None:
    """Check a problem spec and exit: 0 if valid, 2 with one line saying what is wrong."""
    def run() -> int:
        from pinnrun.spec.loader import load_spec

        loaded = load_spec(spec, list(overrides))
        s = loaded.spec
        terms = ", ".join(f"{k}={v}" for k, v in s.sampling.points.items())
        click.echo(f"{spec}: valid ({s.name}; terms {terms}; scaling {s.scaling})")
        return 0
    _guard(run)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--np", "np_", type=click.IntRange(min=1), help="Number of ranks (processes).")
@click.option("--gpus", type=click.IntRange(min=1), help="One rank per GPU; CPU ranks where there is no GPU.")
@click.option("--hosts", help="Hosts with slots, e.g. h1:2,h2:2.")
@click.option("--scaling", type=click.Choice(["weak", "strong"]), help="Override the spec's scaling mode.")
@click.option("--launcher", type=click.Choice(["horovodrun", "mpirun", "srun"]), help="How ranks are started.")
@click.option("--cluster", "cluster_path", type=click.Path(dir_okay=False), help="Cluster spec YAML.")
@click.option("--out", help="Run folder (new or empty); default runs/<name>-<time>.")
@click.option("--dry-run", is_flag=True, help="Print the exact launch command and exit.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec field (repeatable).")
def train(spec, np_, gpus, hosts, scaling, launcher, cluster_path, out, dry_run, overrides) -> None:
    """Train SPEC data-parallel and write a run folder."""
    from pinnrun.launch.cluster import parse_hosts
    from pinnrun.launch.train import train as run_train

    def run() -> int:
        return run_train(spec, list(overrides), np_, gpus, parse_hosts(hosts) if hosts else None, scaling,
                         launcher, cluster_path, out, dry_run, Console())
    _guard(run)


@main.command()
def doctor() -> None:
    """Check the installation: versions, Horovod build, launchers, GPUs, cores."""
    from pinnrun.doctor import run_doctor

    _guard(run_doctor, Console())


if __name__ == "__main__":
    main()
