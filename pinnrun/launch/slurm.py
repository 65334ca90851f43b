"""Hosts of the current SLURM allocation, from SLURM's environment variables.

The variables are input like any other: a malformed list or a range of a
billion nodes is refused with one line, before anything is expanded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import ValidationError

from pinnrun.errors import PinnrunError
from pinnrun.launch.cluster import MAX_HOSTS, Host

_RANGE = re.compile(r"(\d{1,9})(?:-(\d{1,9}))?")
_TASKS = re.compile(r"(\d{1,9})(?:\(x(\d{1,9})\))?")


def expand_nodelist(nodelist: str) -> list[str]:
    """`node[01-03,07],gpu5` -> node01 node02 node03 node07 gpu5 (SLURM's compact form)."""
    names = []
    for prefix, ranges, plain in re.findall(r"([^,\[]+)\[([^\]]+)\]|([^,\[\]]+)", nodelist):
        if plain:
            names.append(plain)
            continue
        for part in ranges.split(","):
            m = _RANGE.fullmatch(part)
            if m is None:
                raise PinnrunError(f"SLURM_JOB_NODELIST: '{prefix}[{ranges}]': '{part}' is not N or N-M")
            lo, hi = m.group(1), m.group(2) or m.group(1)
            if len(names) + int(hi) - int(lo) + 1 > MAX_HOSTS:
                raise PinnrunError(f"SLURM_JOB_NODELIST: more than {MAX_HOSTS:,} hosts")
            names += [f"{prefix}{i:0{len(lo)}d}" for i in range(int(lo), int(hi) + 1)]
    return names


def expand_tasks_per_node(text: str) -> list[int]:
    """`2(x3),1` -> [2, 2, 2, 1]; parts that are not of this form are skipped."""
    counts = []
    for part in text.split(","):
        m = _TASKS.fullmatch(part.strip())
        if m:
            repeat = int(m.group(2) or 1)
            if len(counts) + repeat > MAX_HOSTS:
                raise PinnrunError(f"SLURM_TASKS_PER_NODE: more than {MAX_HOSTS:,} hosts")
            counts += [int(m.group(1))] * repeat
    return counts


def slurm_hosts(env: Mapping[str, str]) -> list[Host] | None:
    """Hosts with slots = tasks per node, or None outside an allocation."""
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        return None
    names = expand_nodelist(nodelist)
    tasks = expand_tasks_per_node(env.get("SLURM_TASKS_PER_NODE", ""))
    if len(tasks) != len(names):
        tasks = [_count(env, "SLURM_NTASKS_PER_NODE", 1)] * len(names)
    # the allocation's GPUs per node: none asked for, none granted (SLURM hides the others)
    gpus = _count(env, "SLURM_GPUS_ON_NODE", 0)
    hosts = []
    for name, slots in zip(names, tasks):
        try:
            hosts.append(Host(name=name, slots=slots, gpus=gpus))
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            reason = first["msg"].removeprefix("Value error, ")
            raise PinnrunError(
                f"SLURM allocation: host '{name}': {first['loc'][0]}: {reason[0].lower()}{reason[1:]}"
            ) from None
    return hosts


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "") or str(default)
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise PinnrunError(f"{name}={text!r}: not a count")
    return int(text)
