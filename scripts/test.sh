#!/usr/bin/env bash
# Set up (idempotent), then run the whole test suite: unit tests and real
# `horovodrun -np 2` runs. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
