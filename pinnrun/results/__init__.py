"""Results: the run folder, metrics, summary, predictions."""
