"""Launch: build and run horovodrun / mpirun / srun commands."""
