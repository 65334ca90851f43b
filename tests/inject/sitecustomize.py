"""Fault injection into real ranks, without touching pinnrun (tests/test_distributed.py).

Python imports `sitecustomize` at start-up from the first folder of sys.path that has
one; the tests put this folder first on the PYTHONPATH of `pinnrun train`, and the
launchers hand it to every rank. Nothing happens unless PINNRUN_TEST_INJECT holds a
JSON object, and then only in a launched rank (one with a rank variable):

    {"dir": FOLDER,                        # where the markers below are written
     "seed": {"rank": 1, "seed": 7},      # that rank builds its network from another seed
     "fail": {"rank": 1, "step": 5}}      # that rank raises at that logged step

Every rank writes `pid-RANK` (its process id) to FOLDER; an injection that happened
writes `init-RANK.json` or `fail-RANK.json`, so a test can tell it really ran. Patches
are applied right after the patched module executes (an import hook), so the worker's
`from ... import build_model` already gets the patched function.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import sys

RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "HOROVOD_RANK")  # mpirun; Horovod's Gloo (ours, horovodrun)
FAILURE = "injected failure: rank {rank} stops at step {step}"


def launched_rank() -> int | None:
    for name in RANK_VARIABLES:
        if name in os.environ:
            return int(os.environ[name])
    return None


def write_marker(folder: str, name: str, data) -> None:
    with open(os.path.join(folder, name), "w") as f:
        json.dump(data, f)


def params_digest(params) -> str:
    """As pinnrun.worker.digest: sha256 of the parameters' bytes, 16 hex digits."""
    import numpy as np

    h = hashlib.sha256()
    for p in params:
        h.update(np.ascontiguousarray(p.numpy()).tobytes())
    return h.hexdigest()[:16]


def other_seed(module, folder: str, rank: int, other: int) -> None:
    build_model = module.build_model

    def build_from_other_seed(spec_network, problem, seed, parameters=None):  # build_model's own signature
        net = build_model(spec_network, problem, seed=other, parameters=parameters)
        write_marker(
            folder, f"init-{rank}.json", {"seed_given": seed, "seed": other, "digest": params_digest(net.params)}
        )
        return net

    module.build_model = build_from_other_seed


def fail_at_step(module, folder: str, rank: int, step: int) -> None:
    log = module.Trainer._log

    def failing_log(self, log_fn, phase, at_step, *args, **kwargs):
        if at_step == step:
            write_marker(folder, f"fail-{rank}.json", {"phase": phase, "step": at_step})
            raise RuntimeError(FAILURE.format(rank=rank, step=step))
        return log(self, log_fn, phase, at_step, *args, **kwargs)

    module.Trainer._log = failing_log


class PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds a module as the ordinary path finder would, then runs `patch(module)` after it executes."""

    def __init__(self, patches: dict):
        self.patches = patches

    def find_spec(self, name, path, target=None):
        patch = self.patches.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


def install(config: dict, rank: int) -> None:
    folder = config["dir"]
    write_marker(folder, f"pid-{rank}", os.getpid())
    patches = {}
    if config.get("seed", {}).get("rank") == rank:
        seed = config["seed"]["seed"]
        patches["pinnrun.model.mlp"] = lambda module: other_seed(module, folder, rank, seed)
    if config.get("fail", {}).get("rank") == rank:
        step = config["fail"]["step"]
        patches["pinnrun.training.trainer"] = lambda module: fail_at_step(module, folder, rank, step)
    if patches:
        sys.meta_path.insert(0, PatchAfterImport(patches))


if "PINNRUN_TEST_INJECT" in os.environ and launched_rank() is not None:
    install(json.loads(os.environ["PINNRUN_TEST_INJECT"]), launched_rank())
