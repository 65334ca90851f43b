#!/usr/bin/env bash
# Set up (idempotent), then run the whole test suite: unit tests and real
# `horovodrun -np 2` runs. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The multi-host tests' cluster (scripts/testcluster.py): hosts are network namespaces running
# Debian's sshd, and SLURM with munge. It needs root; elsewhere those tests skip with the reason.
if [ "$(id -u)" = 0 ]; then
  need=()
  for tool in /usr/sbin/sshd:openssh-server /usr/sbin/slurmctld:slurm-wlm /usr/sbin/munged:munge \
              ip:iproute2 nsenter:util-linux; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    printf '\033[1m[test]\033[0m installing the test cluster'"'"'s packages: %s\n' "${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest -p no:cacheprovider -q --durations=15 "$@"  # the slowest, to keep the suite under 20 min
