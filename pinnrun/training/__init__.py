"""Training: data-parallel optimisation (Adam, L-BFGS) over a Comm."""
