"""Before launching: do the ranks placed on this host fit the memory it has available?

Validation checks one rank of the spec against a fixed ceiling (spec/memory.py); here the
launch plan says how many ranks share this host, and how many share strong-scaling points.
A rank's memory is TensorFlow and Horovod themselves plus what the spec's training holds.
"""

from __future__ import annotations

import re

from pinnrun.errors import PinnrunError
from pinnrun.launch.command import LOCAL_NAMES, LaunchPlan
from pinnrun.spec.memory import BudgetError, MemoryEstimate, estimate_rank_memory
from pinnrun.numbers import byte_size
from pinnrun.spec.schema import Spec
from pinnrun.spec.yaml_lines import format_path

# What one rank holds before it trains: TensorFlow 2.18.1 (CPU) and Horovod 0.28.1 imported,
# hvd.init() and one op run. Measured on this project's 2-core x86 host:
#   python -c "import tensorflow as tf, horovod.tensorflow as hvd; hvd.init(); tf.constant(1.)+1;
#              print(open('/proc/self/status').read())"
#   VmRSS 486,100 kB = RssAnon 225,616 kB (the rank's own) + RssFile 260,484 kB (library pages,
#   shared by every rank on the host). The spec's share (spec/memory.py) was measured above
#   the RSS after starting TensorFlow, so the two add up.
RANK_RUNTIME_BYTES = 220 * 2**20
SHARED_RUNTIME_BYTES = 255 * 2**20


def available_memory() -> int | None:
    """Bytes this host can give new processes now: MemAvailable, or less under a cgroup limit;
    None where /proc/meminfo is not there (not Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            found = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo.read(), re.MULTILINE)
    except OSError:
        return None
    if found is None:
        return None
    available = int(found.group(1)) * 1024
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as used:
            cap, current = limit.read().strip(), used.read().strip()
        if cap.isdigit() and current.isdigit():
            available = min(available, max(0, int(cap) - int(current)))
    except OSError:
        pass
    return available


def check_plan_memory(spec: Spec, plan: LaunchPlan, expressions: dict, memory=available_memory) -> list[str]:
    """Raise when the local ranks cannot fit; a note for remote hosts (their memory is unknown here).
    `expressions` are the spec's, as validation parsed them; `memory()` gives the bytes available
    (None where it cannot be read: not checked)."""
    try:
        estimate = estimate_rank_memory(spec, plan.ranks, expressions)
    except BudgetError as e:
        raise PinnrunError(f"training.memory_budget: {e}") from None
    reference = estimate.parts["reference"]  # rank 0 alone holds the reference grid
    training = estimate.total - reference
    per_rank = RANK_RUNTIME_BYTES + training
    if not all(h.name in LOCAL_NAMES for h in plan.hosts):
        return [
            f"each rank needs about {byte_size(per_rank)} of memory, rank 0 "
            f"{byte_size(per_rank + reference)} (estimate; remote hosts are not checked)"
        ]
    limit = memory()
    if limit is None:
        return []
    needed = SHARED_RUNTIME_BYTES + plan.ranks * per_rank + reference
    if needed > limit:
        fit = max(0, (limit - SHARED_RUNTIME_BYTES - reference) // per_rank)
        raise PinnrunError(
            f"{plan.ranks} rank(s) on this host need about {byte_size(needed)} but it has "
            f"{byte_size(limit)} available: each rank {byte_size(RANK_RUNTIME_BYTES)} for TensorFlow and "
            f"Horovod (measured idle) + about {byte_size(training)} for training ({estimate.detail}); "
            f"at most {fit} rank(s) fit; {_remedy(estimate)}"
        )
    return []


def _remedy(estimate: MemoryEstimate) -> str:
    if estimate.parts["tapes"] > estimate.total / 2:
        # the points evaluated at once dominate: micro-batches bound them
        return (
            "set a memory budget per rank (--memory-budget, training.memory_budget) to evaluate each rank's "
            "points in micro-batches, or use more hosts"
        )
    return f"lower {format_path(estimate.blame)} or use more hosts"
