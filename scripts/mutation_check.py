#!/usr/bin/env python
"""Break the distributed core on purpose and check that the tests notice.

    .venv/bin/python scripts/mutation_check.py [--only NAME,...] [--every-stage] [--working-tree] [--write-doc]

Each mutation is one small textual edit of pinnrun's source (an average turned
into a sum, a broadcast removed, ...). It is applied to a COPY of the
repository, never to this checkout: HEAD by default (`git archive`), or with
--working-tree the working tree's files that git does not ignore. The copy's
tests then run against the copy's package, in-process and in every rank
(PYTHONPATH and the working directory point at the copy; the launchers pass
the environment on).

Per mutation, its stages (a test file and a -k expression, fast unit tests
first) run in order until one fails: the break is *caught*. Each stage first
runs once on the unmutated copy (the baseline): it must pass with nothing
skipped, or the script stops (exit 2), since a failure under a mutation means
something only if the same tests pass without it. A mutation whose stages
all pass is *missed*, and the script exits 1. A mutation whose text is not
found exactly once in the source is an error (exit 2): the core was
refactored and the mutation must be updated, not dropped. The two sanity
mutations come first; if either is not caught, the tests are not running the
copy and the script stops (exit 2).

Prints a markdown table; --write-doc also writes it into docs/testing.md
(between the mutation markers) and the results into benchmarks/mutations.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
RESULTS = ROOT / "benchmarks" / "mutations.json"
BEGIN, END = "<!-- mutations:begin -->", "<!-- mutations:end -->"


@dataclass(frozen=True)
class Stage:
    """One pytest run: a test file, optionally narrowed by a -k expression."""

    path: str
    keyword: str | None = None

    def args(self) -> list[str]:
        return [self.path] + (["-k", self.keyword] if self.keyword else [])

    def label(self) -> str:
        return self.path.removeprefix("tests/") + (f" -k '{self.keyword}'" if self.keyword else "")


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository root
    old: str  # must occur exactly once in `file`
    new: str
    what: str  # the break, in words
    stages: tuple[Stage, ...]  # tried in order; the first that fails catches the break
    sanity: bool = False  # checks the harness itself (the copy is what runs), not the core


# The tests each break is aimed at. Fast unit tests come first.
ADAM_UNIT = Stage("tests/test_training_local.py", "adam")
LBFGS_UNIT = Stage("tests/test_training_local.py", "lbfgs")
LOSS_UNIT = Stage("tests/test_training_local.py", "sum_of_rank_shares or empty_strong")
ONE_PROCESS = Stage("tests/test_training_local.py", "one_process_training")
SHARDS_UNIT = Stage("tests/test_sampling.py")
# 1 rank vs 2 ranks (mpirun, the default local path), strong scaling with unequal shards:
# the whole Adam and L-BFGS trajectory, final parameters and predictions at rounding level.
DIST_STRONG = Stage("tests/test_distributed.py", "reproduce_one_rank and mpirun")
DIST_WEAK = Stage("tests/test_distributed.py", "weak_two_ranks")
DIST_BROADCAST = Stage("tests/test_distributed.py", "another_initialisation and mpirun")
DIST_REPORTED = Stage("tests/test_distributed.py", "reported_loss")
DRAW_UNIT = Stage("tests/test_draw.py")
TERMS_UNIT = Stage("tests/test_terms.py", "periodic")
DIST_CSG = Stage("tests/test_conditions_distributed.py", "csg")
DIST_INVERSE = Stage("tests/test_conditions_distributed.py", "inverse")
DIST_PERIODIC = Stage("tests/test_conditions_distributed.py", "periodic")
STATE_UNIT = Stage("tests/test_training_state.py", "bit_identical")
DIST_RESUME = Stage("tests/test_resume.py", "bit_identical and adam")

MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "sanity: tests import the copy",
        "pinnrun/training/trainer.py",
        "from __future__ import annotations\n",
        "from __future__ import annotations\nraise ImportError('mutation_check: the copy was imported')\n",
        "the copy's trainer.py raises on import",
        (ONE_PROCESS,),
        sanity=True,
    ),
    Mutation(
        "sanity: launched ranks run the copy",
        "pinnrun/training/comm.py",
        "        hvd.init()\n",
        "        raise SystemExit('mutation_check: the copy runs in this rank')\n",
        "the copy's Horovod ranks exit at start (a 1-rank run, without a launcher, is untouched)",
        (DIST_STRONG,),
        sanity=True,
    ),
    Mutation(
        "gradient scaled by the rank count",
        "pinnrun/training/trainer.py",
        "reduced[: self.n_params], terms, local",
        "reduced[: self.n_params] * self.comm.size, terms, local",
        "the all-reduced gradient times the rank count (as if each rank's share were a mean); loss terms exact",
        (DIST_STRONG,),
    ),
    Mutation(
        "no broadcast",
        "pinnrun/training/session.py",
        "comm.broadcast_variables(variables)",
        "pass",
        "rank 0's initial parameters are not broadcast",
        (DIST_BROADCAST,),
    ),
    Mutation(
        "a shard's last point dropped",
        "pinnrun/sampling/shards.py",
        "base + (rank < extra), points)",
        "base + (rank < extra) - (size > 1 and rank == size - 1), points)",
        "strong scaling: the last rank's block ends one point early",
        (SHARDS_UNIT, DIST_STRONG),
    ),
    Mutation(
        "wrong global point count",
        "pinnrun/training/losses.py",
        "scale = 1.0 / max(batch.shard.total * batch.components, 1)",
        "scale = 1.0 / max(batch.shard.count * batch.components, 1)",
        "the loss normalised by this rank's point count instead of the global count",
        (LOSS_UNIT, DIST_STRONG),
    ),
    Mutation(
        "L-BFGS history off by one",
        "pinnrun/training/lbfgs.py",
        "for i in tf.range(m):",
        "for i in tf.range(m - 1):",
        "the two-loop recursion's second loop stops before the newest curvature pair",
        (LBFGS_UNIT,),
    ),
    Mutation(
        "L-BFGS history off by one, first loop",
        "pinnrun/training/lbfgs.py",
        "for i in tf.range(m - 1, -1, -1):",
        "for i in tf.range(m - 1, 0, -1):",
        "the two-loop recursion's first loop stops before the oldest curvature pair",
        (LBFGS_UNIT,),
    ),
    Mutation(
        "loss terms not all-reduced",
        "pinnrun/training/trainer.py",
        "terms = reduced[self.n_params : self.n_params + n]",
        "terms = local[:n]",
        "each rank reports (and L-BFGS decides on) its own shard's loss terms",
        (DIST_REPORTED, DIST_STRONG),
    ),
    Mutation(
        "L-BFGS history keeps its oldest pair",
        "pinnrun/training/lbfgs.py",
        "self.S.assign(tf.concat([self.S[1:], s[None]], 0))",
        "self.S.assign(tf.concat([self.S[:1], self.S[2:], s[None]], 0))",
        "the history shift drops the second-oldest step instead of the oldest",
        (LBFGS_UNIT,),
    ),
    Mutation(
        "Adam without bias correction",
        "pinnrun/training/adam.py",
        "tf.cast(lr64 * tf.sqrt(1 - tf.pow(b2, t)) / (1 - tf.pow(b1, t)), dtype)",
        "tf.cast(lr64, dtype)",
        "the step size lacks the sqrt(1-b2^t)/(1-b1^t) factor",
        (ADAM_UNIT,),
    ),
    Mutation(
        "Adam epsilon not bias-corrected",
        "pinnrun/training/adam.py",
        "tf.cast(self.spec.epsilon * tf.sqrt(1 - tf.pow(b2, t)), dtype)",
        "tf.cast(self.spec.epsilon, dtype)",
        "epsilon added to sqrt(v) instead of the paper's sqrt(v_hat) (a ~1e-8 relative change)",
        (ADAM_UNIT,),
    ),
    Mutation(
        "everything averaged",
        "pinnrun/training/comm.py",
        "op=self._hvd.Sum",
        "op=self._hvd.Average",
        "Horovod averages the ranks' shares of gradients and loss terms instead of summing them",
        (DIST_STRONG,),
    ),
    Mutation(
        "weak shards overlap",
        "pinnrun/sampling/shards.py",
        "Shard(rank * points, points, size * points)",
        "Shard(0, points, size * points)",
        "weak scaling: every rank samples the first block",
        (SHARDS_UNIT, DIST_WEAK),
    ),
    Mutation(
        "rejection blocks miscounted",
        "pinnrun/sampling/draw.py",
        "kept += len(rows)",
        "kept += len(take)",
        "a rank counts only the kept points it takes, so blocks after the first overlap or shift",
        (DRAW_UNIT, DIST_CSG),
    ),
    Mutation(
        "parameters not trained",
        "pinnrun/training/session.py",
        "variables = [*net.params, *parameters.params]",
        "variables = [*net.params]",
        "the unknown parameters stay out of the all-reduce and the optimizers",
        (DIST_INVERSE,),
    ),
    Mutation(
        "checkpoints without Adam's moments",
        "pinnrun/training/trainer.py",
        '        named |= {f"adam/m/{i}": m for i, m in enumerate(self.adam.m)}\n',
        "",
        "a checkpoint lacks Adam's first moments, so a resumed run restarts them from zero",
        (STATE_UNIT, DIST_RESUME),
    ),
    Mutation(
        "a resumed phase compiles with one step",
        "pinnrun/training/trainer.py",
        "fresh=done == 0):",
        "fresh=True):",
        "a resumed phase starts with a one-step chunk, so its logs (and L-BFGS's chunk bounds) fall elsewhere",
        (STATE_UNIT, DIST_RESUME),
    ),
    Mutation(
        "periodic partners not translated",
        "pinnrun/problem/terms/periodic.py",
        "first + self.offset]",
        "first]",
        "a periodic condition compares each point with itself",
        (TERMS_UNIT, DIST_PERIODIC),
    ),
)


@dataclass
class StageRun:
    stage: Stage
    verdict: str  # passed / failed / timeout / error
    failed: list[str]  # test ids that failed or errored
    counts: dict  # tests, failures, errors, skipped (from pytest's JUnit XML)
    seconds: float
    tail: str  # the end of pytest's output, for an error or a failure
    messages: dict  # failed test id -> its failure message


def apply(text: str, mutation: Mutation) -> str:
    """The source with the mutation applied; refuses unless `old` occurs exactly once."""
    found = text.count(mutation.old)
    if found != 1:
        raise ValueError(
            f"mutation '{mutation.name}': {found} occurrences of {mutation.old!r} in {mutation.file} "
            "(expected exactly 1): the core changed; update the mutation in scripts/mutation_check.py"
        )
    return text.replace(mutation.old, mutation.new)


def make_copy(dest: Path, working_tree: bool) -> None:
    """The tracked files at HEAD (git archive), or the working tree's files that git does not
    ignore (tracked and new: a test being written, and the files it needs, come along)."""
    dest.mkdir(parents=True)
    if working_tree:
        names = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        for name in filter(None, names.decode().split("\0")):
            src = ROOT / name
            if src.is_file():  # a tracked file deleted in the working tree is not copied
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def run_stage(copy: Path, stage: Stage, timeout: float, work: Path) -> StageRun:
    tag = time.monotonic_ns()
    xml = work / f"junit-{tag}.xml"
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(copy), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-x",
        f"--junitxml={xml}",
        f"--basetemp={work / f'tmp-{tag}'}",
        *stage.args(),
    ]
    started = time.perf_counter()
    # Own session: on a timeout the whole group (mpirun and its ranks included) is stopped.
    proc = subprocess.Popen(
        cmd, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        output, _ = proc.communicate()
        return StageRun(stage, "timeout", [], {}, time.perf_counter() - started, output[-3000:], {})
    seconds = time.perf_counter() - started
    counts, failed, messages = _junit(xml)
    if proc.returncode == 0 and counts.get("tests", 0) > 0:
        verdict = "passed"
    elif proc.returncode in (1, 2) and failed:  # 2: interrupted, e.g. by a collection error
        verdict = "failed"
    else:  # 5: nothing selected, 3/4: pytest itself; not evidence either way
        verdict = "error"
    return StageRun(stage, verdict, failed, counts, seconds, output[-3000:], messages)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _junit(xml: Path) -> tuple[dict, list[str], dict[str, str]]:
    """Counts, the failed tests' ids, and each one's failure message (first 300 characters)."""
    messages: dict[str, str] = {}
    if not xml.is_file():
        return {}, [], messages
    root = ET.parse(xml).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = []
    for case in suite.iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            module = case.get("classname", "").rpartition(".")[2]
            test = f"{module}.py::{case.get('name')}" if module else f"collecting {case.get('name', '?')}"
            failed.append(test)
            messages[test] = " ".join((problem.get("message") or "").split())[:300]
    return counts, failed, messages


class BaselineNotClean(Exception):
    pass


class Baseline:
    """Each stage's run on the unmutated copy, made the first time a mutation needs it
    (a stage that no mutation reaches costs nothing). It must pass with nothing skipped."""

    def __init__(self, pristine: Path, timeout: float, work: Path):
        self.pristine, self.timeout, self.work = pristine, timeout, work
        self.runs: dict[Stage, StageRun] = {}

    def require(self, stage: Stage) -> None:
        if stage not in self.runs:
            run = self.runs[stage] = run_stage(self.pristine, stage, self.timeout, self.work)
            print(
                f"baseline  {stage.label():<60} {run.verdict:<8} {_count_line(run)}  {run.seconds:6.1f} s", flush=True
            )
        run = self.runs[stage]
        if run.verdict != "passed" or run.counts.get("skipped", 0):
            raise BaselineNotClean(
                f"baseline not clean: {stage.label()}: {run.verdict}, {_count_line(run)}\n{run.tail}"
            )


def check(mutation: Mutation, baseline: Baseline, every_stage: bool) -> list[StageRun]:
    """Run the mutation's stages on a mutated copy, each only after it passed unmutated."""
    copy = baseline.work / "mutant"
    shutil.copytree(baseline.pristine, copy)
    try:
        target = copy / mutation.file
        target.write_text(apply(target.read_text(), mutation))
        runs = []
        for stage in mutation.stages:
            baseline.require(stage)
            runs.append(run_stage(copy, stage, baseline.timeout, baseline.work))
            if runs[-1].verdict in ("failed", "timeout") and not every_stage:
                break
        return runs
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def outcome(runs: list[StageRun]) -> str:
    """caught: some stage failed (or hung); missed: every stage passed; error: a stage could not run."""
    if any(r.verdict in ("failed", "timeout") for r in runs):
        return "caught"
    return "missed" if runs and all(r.verdict == "passed" for r in runs) else "error"


def exit_status(outcomes: list[str]) -> int:
    return 0 if all(o == "caught" for o in outcomes) else 1


def _count_line(run: StageRun) -> str:
    c = run.counts
    if not c:
        return "(no JUnit report)"
    return f"{c['tests']} tests, {c['failures']} failed, {c['errors']} errors, {c['skipped']} skipped"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[dict], meta: dict) -> str:
    lines = [
        f"Run {meta['date']} on commit `{meta['commit'][:10]}` ({meta['source']}), "
        f"{meta['seconds']:.0f} s in all (baseline {meta['baseline_seconds']:.0f} s): "
        f"`{meta['command']}`. Results: [benchmarks/mutations.json](../benchmarks/mutations.json).",
        "",
        "| mutation | file | what changed | tests run | result | seconds |",
        "|---|---|---|---|---|---:|",
    ]
    for r in rows:
        stages = "<br>".join(f"`{s['stage']}`: {s['verdict']}" for s in r["stages"])
        result = r["result"]
        if r["caught_by"]:
            result += " by " + ", ".join(f"`{t}`" for t in r["caught_by"][:2])
        name = r["name"] + (" *(sanity)*" if r["sanity"] else "")
        what = r["what"] if r["sanity"] else f"{r['what']}: `{r['old']}` → `{r['new']}`"
        lines.append(
            f"| {_cell(name)} | `{r['file']}` | {_cell(what)} | {stages} | {_cell(result)} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def write_doc(table: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Testing\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} lacks the markers {BEGIN} / {END}")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated mutation names or prefixes of them")
    parser.add_argument("--every-stage", action="store_true", help="run every stage, not only up to the first catch")
    parser.add_argument(
        "--working-tree", action="store_true", help="copy the working tree (files git does not ignore), not HEAD"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pytest run (default 900)")
    parser.add_argument(
        "--write-doc",
        action="store_true",
        help=f"write the table into {DOC.relative_to(ROOT)} and the results into {RESULTS.relative_to(ROOT)}",
    )
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    mutations = list(MUTATIONS)
    if args.list:
        for m in mutations:
            print(f"{m.name:<36} {m.file:<30} {m.what}")
        return 0
    if args.only:
        if args.write_doc:
            parser.error("--write-doc records the whole set: not with --only")
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        chosen = [m for m in mutations if any(m.name.startswith(w) for w in wanted)]
        unknown = [w for w in wanted if not any(m.name.startswith(w) for m in mutations)]
        if unknown:
            parser.error(f"no mutation named {', '.join(unknown)} (see --list)")
        mutations = chosen

    started = time.perf_counter()
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    source = "working tree" + (", uncommitted changes" if dirty else "") if args.working_tree else "HEAD"
    with tempfile.TemporaryDirectory(prefix="pinnrun-mutation-") as tmp:
        work = Path(tmp)
        pristine = work / "pristine"
        make_copy(pristine, args.working_tree)
        problems = []
        for m in mutations:  # every mutation must still apply before anything runs
            try:
                apply((pristine / m.file).read_text(), m)
            except (ValueError, FileNotFoundError) as err:
                problems.append(str(err))
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 2

        baseline = Baseline(pristine, args.timeout, work)
        rows, outcomes = [], []
        for m in mutations:
            t0 = time.perf_counter()
            try:
                runs = check(m, baseline, args.every_stage)
            except BaselineNotClean as err:
                print(err, file=sys.stderr)
                return 2
            result = outcome(runs)
            outcomes.append(result)
            caught_by = [t for r in runs for t in r.failed] or [
                r.stage.label() + " (timed out)" for r in runs if r.verdict == "timeout"
            ]
            rows.append(
                {
                    "name": m.name,
                    "file": m.file,
                    "what": m.what,
                    "old": m.old,
                    "new": m.new,
                    "sanity": m.sanity,
                    "result": result,
                    "caught_by": caught_by,
                    "stages": [
                        {
                            "stage": r.stage.label(),
                            "verdict": r.verdict,
                            "counts": r.counts,
                            "failed": r.messages,
                            "seconds": round(r.seconds, 1),
                        }
                        for r in runs
                    ],
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            print(f"{result:<7} {m.name:<36} {', '.join(caught_by[:2])}  ({rows[-1]['seconds']:.0f} s)", flush=True)
            for r in runs:
                for test, message in r.messages.items():
                    print(f"        {test}: {message[:160]}", flush=True)
            if result != "caught":
                for r in runs:
                    print(f"  {r.stage.label()}: {r.verdict}, {_count_line(r)}\n{r.tail}", file=sys.stderr)
                if m.sanity:  # the tests did not run the copy: no result below would mean anything
                    print(f"sanity check '{m.name}' not caught: stopping", file=sys.stderr)
                    return 2

    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "source": source,
        "seconds": round(time.perf_counter() - started, 1),
        "baseline_seconds": round(sum(r.seconds for r in baseline.runs.values()), 1),
        "command": shlex.join([".venv/bin/python", "scripts/mutation_check.py", *argv]),
        "python": sys.version.split()[0],
    }
    table = render(rows, meta)
    print()
    print(table)
    if args.write_doc:
        write_doc(table)
        RESULTS.write_text(
            json.dumps(
                meta
                | {
                    "baseline": [
                        {"stage": r.stage.label(), "counts": r.counts, "seconds": round(r.seconds, 1)}
                        for r in baseline.runs.values()
                    ],
                    "mutations": rows,
                },
                indent=2,
            )
            + "\n"
        )
    missed = [r["name"] for r in rows if r["result"] != "caught"]
    if missed:
        print(f"\nnot caught: {', '.join(missed)}", file=sys.stderr)
    return exit_status(outcomes)


if __name__ == "__main__":
    sys.exit(main())
