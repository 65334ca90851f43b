"""Before launching: do the ranks placed on this host fit its memory?

Validation checks one rank; here the launch plan says how many ranks share
this host and how many share strong-scaling points.
"""
from __future__ import annotations

from pinnrun.errors import PinnrunError
from pinnrun.launch.command import LaunchPlan
from pinnrun.spec.memory import estimate_rank_memory, host_memory, human_bytes
from pinnrun.spec.schema import Spec
from pinnrun.spec.yaml_lines import format_path

LOCAL_NAMES = ("localhost", "127.0.0.1")


def check_plan_memory(spec: Spec, plan: LaunchPlan) -> list[str]:
    """Raise when the local ranks cannot fit; a note for remote hosts (their memory is unknown here)."""
    estimate = estimate_rank_memory(spec, plan.ranks)
    per_rank = estimate.total - estimate.parts["reference"]  # rank 0 alone holds the reference grid
    if not all(h.name in LOCAL_NAMES for h in plan.hosts):
        return [f"each rank needs about {human_bytes(per_rank)} of memory, rank 0 "
                f"{human_bytes(estimate.total)} (estimate; remote hosts are not checked)"]
    needed = plan.ranks * per_rank + estimate.parts["reference"]
    limit = host_memory()
    if needed > limit:
        raise PinnrunError(f"{plan.ranks} rank(s) on this host need about {human_bytes(needed)} "
                           f"(one rank: {human_bytes(estimate.total)}, {estimate.detail}) but this host has "
                           f"{human_bytes(limit)}; lower {format_path(estimate.blame)} or use more hosts")
    return []
