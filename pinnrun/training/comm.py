"""Everything pinnrun knows about ranks lives here.

The rest of the code takes a `Comm` and stays rank-agnostic: `LocalComm` is a
single process (tests, 1-rank runs without Horovod), `HorovodComm` wraps
horovod.tensorflow. Also here: how a rank claims its share of the machine.
"""
from __future__ import annotations

import os
import socket

import tensorflow as tf


class LocalComm:
    rank, size, local_rank, local_size = 0, 1, 0, 1

    def allreduce_mean(self, tensor: tf.Tensor, name: str = "pinnrun_allreduce") -> tf.Tensor:
        return tensor

    def broadcast_variables(self, variables) -> None:
        pass

    def allgather_object(self, obj) -> list:
        return [obj]


class HorovodComm:
    def __init__(self):
        import horovod.tensorflow as hvd

        hvd.init()
        self._hvd = hvd
        self.rank, self.size = hvd.rank(), hvd.size()
        self.local_rank, self.local_size = hvd.local_rank(), hvd.local_size()

    def allreduce_mean(self, tensor: tf.Tensor, name: str = "pinnrun_allreduce") -> tf.Tensor:
        # One fused tensor per call: gradients and loss terms travel together.
        return self._hvd.allreduce(tensor, op=self._hvd.Average, name=name)

    def broadcast_variables(self, variables) -> None:
        self._hvd.broadcast_variables(variables, root_rank=0)

    def allgather_object(self, obj) -> list:
        return self._hvd.allgather_object(obj)


def claim_devices(comm) -> dict:
    """Pin one GPU per local rank, or split the CPU cores between local ranks.

    Must run before TensorFlow executes anything. Returns what was chosen.
    """
    gpus = tf.config.list_physical_devices("GPU")
    cores = len(os.sched_getaffinity(0))
    threads = max(1, cores // comm.local_size)
    if gpus:
        gpu = gpus[comm.local_rank % len(gpus)]
        tf.config.set_visible_devices(gpu, "GPU")
        tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return {"host": socket.gethostname(), "rank": comm.rank, "local_rank": comm.local_rank,
            "device": gpu.name if gpus else "cpu", "threads": threads}


def open_comm():
    """Horovod when launched by horovodrun/mpirun/srun, else a single local process."""
    launched = any(k in os.environ for k in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"))
    return HorovodComm() if launched else LocalComm()
