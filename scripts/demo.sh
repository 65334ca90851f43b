#!/usr/bin/env bash
# Set up (idempotent), then train the default problem (viscous Burgers) on two
# ranks with Horovod, ending with the run's error, time and results folder.
# Extra arguments go to `pinnrun train`, e.g. --set training.lbfgs.steps=500.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pinnrun train problems/burgers.yaml --np 2 "$@"
