"""pinnrun: data-parallel PINN training with Horovod."""

__version__ = "0.1.0"
