"""Problem: a validated spec turned into geometry, residual and condition terms."""
