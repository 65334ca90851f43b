"""`pinnrun inspect`: what a run folder (or a folder of runs) says, without opening JSON.

read → status → describe (one JSON-able dict per run) → view (rich) / --json;
compare and study handle parent folders; loss_plot and solution_plot write PNGs.
"""
