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

    def refresh(self) -> None:
        """After an elastic reset (shutdown, init, a new rendezvous): this process's new rank and size."""
        self.rank, self.size = self._hvd.rank(), self._hvd.size()
        self.local_rank, self.local_size = self._hvd.local_rank(), self._hvd.local_size()

    def elastic_run(self, train, variables, progress, restore_progress, on_reset):
        """Horovod elastic (horovodrun --min-np/--max-np): `train(commit)` runs until it returns; a
        rank that dies makes the others roll back to the last `commit()` and go on with fewer, and
        a host that comes back joins at the next commit. `progress()` is the JSON-able rest of the
        state, `restore_progress(p)` puts it back; `on_reset()` rebuilds what depends on rank and
        size. No collective may run before this (a joining rank would wait in it alone)."""
        hvd = self._hvd
        state = _elastic_state(hvd, variables, progress, restore_progress)
        state.register_reset_callbacks([self.refresh, on_reset])

        @hvd.elastic.run
        def run(state):
            try:
                return train(state.commit)
            except tf.errors.OpError as err:
                # Horovod's own wrapper turns a failed collective into a reset only when the
                # error names its unnamed ops; ours are named pinnrun_*, so a lost rank would end
                # training here as a success (measured: the survivor exited 0 at the next step).
                if any(word in err.message for word in ("Horovod", "pinnrun_", "Gloo", "gloo")):
                    from horovod.common.exceptions import HorovodInternalError

                    raise HorovodInternalError(err) from err
                raise

        return run(state)


def _elastic_state(hvd, variables, progress, restore_progress):
    from horovod.common.elastic import ObjectState  # here: LocalComm users never load Horovod

    class ElasticState(ObjectState):
        """The trained variables and optimizer states (copied to host memory at each commit,
        broadcast from rank 0 at each sync), plus the trainer's JSON progress. Horovod's
        TensorFlowState broadcasts variables only through a TF1 session: in eager TF2 its sync
        leaves a joining rank with its own values (measured, Horovod 0.28.1)."""

        def __init__(self, hvd, variables, progress, restore_progress):
            self._hvd, self._variables = hvd, variables
            self._progress, self._restore_progress = progress, restore_progress
            self._values = [v.numpy() for v in variables]
            super().__init__(bcast_object=hvd.broadcast_object, get_rank=hvd.rank, progress=progress())

        def save(self):
            self._values = [v.numpy() for v in self._variables]
            self.progress = self._progress()
            super().save()

        def restore(self):
            for v, value in zip(self._variables, self._values):
                v.assign(value)
            super().restore()
            self._restore_progress(self.progress)

        def sync(self):
            self._hvd.broadcast_variables(self._variables, root_rank=0)
            self._values = [v.numpy() for v in self._variables]
            super().sync()
            self._restore_progress(self.progress)

    return ElasticState(hvd, variables, progress, restore_progress)


def open_comm():
    """Horovod when launched by horovodrun/mpirun/srun, else a single local process."""
    launched = any(k in os.environ for k in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"))
    return HorovodComm() if launched else LocalComm()
