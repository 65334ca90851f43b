"""On a GPU (skipped elsewhere; `scripts/gpu_check.sh` runs them): a rank claims the GPU, and
the loss and gradient it computes there are the CPU's, whole and in micro-batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers import PROBLEMS
from pinnrun.training.comm import LocalComm
from pinnrun.training.session import build_session

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="no GPU visible to TensorFlow"),
]
SETS = [
    "network.hidden=[32,32]",
    "network.dtype=float64",
    "sampling.points.burgers=3001",
    "sampling.points.initial=129",
    "sampling.points.walls=131",
]


def value_and_gradient(device: str, *sets: str):
    with tf.device(device):
        s = build_session(PROBLEMS / "burgers_soft.yaml", LocalComm(), [*SETS, *sets])
        terms, grad = s.losses.value_and_gradient(s.variables)
    return terms.numpy(), grad.numpy(), terms.device


def test_a_rank_claims_the_gpu():
    from pinnrun.training.placement import claim_devices

    assert claim_devices(LocalComm())["device"].startswith("/physical_device:GPU")


@pytest.mark.parametrize("sets", [(), ("training.micro_batch=1000",)], ids=["whole", "micro-batched"])
def test_gpu_loss_and_gradient_are_the_cpus(sets):
    terms, grad, where = value_and_gradient("/GPU:0", *sets)
    cpu_terms, cpu_grad, _ = value_and_gradient("/CPU:0")
    assert "GPU" in where
    np.testing.assert_allclose(terms, cpu_terms, rtol=1e-10)
    np.testing.assert_allclose(grad, cpu_grad, rtol=1e-8, atol=1e-12 * np.abs(cpu_grad).max())
