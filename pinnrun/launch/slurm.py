"""Hosts of the current SLURM allocation, from SLURM's environment variables."""
from __future__ import annotations

import re
from collections.abc import Mapping

from pinnrun.launch.cluster import Host


def expand_nodelist(nodelist: str) -> list[str]:
    """`node[01-03,07],gpu5` -> node01 node02 node03 node07 gpu5 (SLURM's compact form)."""
    names = []
    for prefix, ranges, plain in re.findall(r"([^,\[]+)\[([^\]]+)\]|([^,\[\]]+)", nodelist):
        if plain:
            names.append(plain)
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            if hi:
                names += [f"{prefix}{i:0{len(lo)}d}" for i in range(int(lo), int(hi) + 1)]
            else:
                names.append(prefix + lo)
    return names


def expand_tasks_per_node(text: str) -> list[int]:
    """`2(x3),1` -> [2, 2, 2, 1]."""
    counts = []
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if m:
            counts += [int(m.group(1))] * int(m.group(2) or 1)
    return counts


def slurm_hosts(env: Mapping[str, str]) -> list[Host] | None:
    """Hosts with slots = tasks per node, or None outside an allocation."""
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        return None
    names = expand_nodelist(nodelist)
    tasks = expand_tasks_per_node(env.get("SLURM_TASKS_PER_NODE", ""))
    if len(tasks) != len(names):
        tasks = [int(env.get("SLURM_NTASKS_PER_NODE", 1))] * len(names)
    gpus = int(env.get("SLURM_GPUS_ON_NODE", 0) or 0)
    return [Host(name=n, slots=s, gpus=gpus) for n, s in zip(names, tasks)]
