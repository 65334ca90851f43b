"""The names of a run folder's files, defined once (README's "Run folders" lists what each holds)."""

SPEC = "spec.yaml"  # the resolved spec the ranks train
RUN = "run.json"  # how it was launched
ENV = "env.json"  # versions and devices
EVENTS = "events.jsonl"  # start, progress, done: the launcher's progress bar reads it
METRICS = "metrics.jsonl"  # one record per logged step
SUMMARY = "summary.json"  # the result
PREDICTIONS = "predictions.npz"  # prediction and reference on the reference's points
LOG = "worker.log"  # the ranks' raw output
