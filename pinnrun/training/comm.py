"""Everything pinnrun knows about ranks and collectives lives here.

The rest of the code takes a `Comm` and stays rank-agnostic: `LocalComm` is a
single process (tests, 1-rank runs without Horovod), `HorovodComm` wraps
horovod.tensorflow. How a rank claims its cores or GPU is training/placement.py.
"""
from __future__ import annotations

import os

import tensorflow as tf


class LocalComm:
    rank, size, local_rank, local_size = 0, 1, 0, 1
    background_threads: frozenset[int] = frozenset()

    def allreduce_sum(self, tensor: tf.Tensor, name: str = "pinnrun_allreduce") -> tf.Tensor:
        return tensor

    def allgather(self, tensor: tf.Tensor, name: str = "pinnrun_allgather") -> tf.Tensor:
        return tensor

    def broadcast_variables(self, variables) -> None:
        pass

    def broadcast_object(self, obj, name: str = "pinnrun_object"):
        return obj

    def allgather_object(self, obj) -> list:
        return [obj]

    def barrier(self) -> None:
        pass


class HorovodComm:
    def __init__(self):
        import horovod.tensorflow as hvd

        from pinnrun.training.placement import thread_ids

        before = thread_ids()
        hvd.init()
        # Horovod's background loop and its transport's threads: they start in hvd.init().
        self.background_threads = frozenset(thread_ids() - before)
        self._hvd = hvd
        self.rank, self.size = hvd.rank(), hvd.size()
        self.local_rank, self.local_size = hvd.local_rank(), hvd.local_size()

    def allreduce_sum(self, tensor: tf.Tensor, name: str = "pinnrun_allreduce") -> tf.Tensor:
        # One fused tensor per call: gradients, loss terms and parameters travel together.
        return self._hvd.allreduce(tensor, op=self._hvd.Sum, name=name)

    def allgather(self, tensor: tf.Tensor, name: str = "pinnrun_allgather") -> tf.Tensor:
        """Rows of every rank's tensor, rank 0's first (the first dimension may differ)."""
        return self._hvd.allgather(tensor, name=name)

    def broadcast_variables(self, variables) -> None:
        self._hvd.broadcast_variables(variables, root_rank=0)

    def broadcast_object(self, obj, name: str = "pinnrun_object"):
        return self._hvd.broadcast_object(obj, root_rank=0, name=name)

    def allgather_object(self, obj) -> list:
        return self._hvd.allgather_object(obj)

    def barrier(self) -> None:
        self._hvd.barrier()


def open_comm():
    """Horovod when launched by horovodrun/mpirun/srun, else a single local process."""
    launched = any(k in os.environ for k in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"))
    return HorovodComm() if launched else LocalComm()
