#!/usr/bin/env bash
# DeepXDE peer benchmark: DeepXDE's own Burgers example, TensorFlow backend, in its own
# virtual environment (benchmarks/.venv-deepxde, gitignored), then run
# scripts/bench_deepxde.py with the arguments given here.
#
#   bash scripts/bench_deepxde.sh --mode steps --steps 2000 --out runs/dx_steps.json
#   bash scripts/bench_deepxde.sh --mode full --out runs/dx_full.json     # ~10+ min on 2 cores
#   bash scripts/bench_deepxde.sh --setup-only                            # just build the venv
#   bash scripts/bench_deepxde.sh --parallel 2 --mode steps --steps 2000 --out runs/dx_dp.json
#       DeepXDE's own data-parallel mode: backend tensorflow.compat.v1 with Horovod, started as
#       its docs say (`horovodrun -np 2`); Horovod (pinnrun's cached wheel, the same TF 2.18.1)
#       and mpi4py are added to the venv on first use
#   DDE_BACKEND=tensorflow.compat.v1 bash scripts/bench_deepxde.sh --mode steps ...   # one process, that backend
#
# Idempotent: the venv is (re)built only when it is missing or the pinned requirements
# in benchmarks/deepxde/ changed; a second call goes straight to the benchmark.
# Environment: PYTHON (a Python 3.11 interpreter, default python3.11, else python3),
# DEEPXDE_VENV (default benchmarks/.venv-deepxde).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3.11}
VENV=${DEEPXDE_VENV:-$ROOT/benchmarks/.venv-deepxde}
REQ=$ROOT/benchmarks/deepxde/requirements.txt
REQ_NODEPS=$ROOT/benchmarks/deepxde/requirements-nodeps.txt
export DDE_BACKEND=${DDE_BACKEND:-tensorflow}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
say() { printf '[bench_deepxde] %s\n' "$*" >&2; }
die() { printf '[bench_deepxde] error: %s\n' "$*" >&2; exit 1; }

[ -f "$REQ" ] && [ -f "$REQ_NODEPS" ] || die "missing $REQ or $REQ_NODEPS"
[ -f "$ROOT/scripts/bench_deepxde.py" ] || die "missing scripts/bench_deepxde.py"

SETUP_ONLY=0
PARALLEL=0
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --setup-only) SETUP_ONLY=1 ;;
    --parallel) PARALLEL=${2:?--parallel needs a number of processes}; shift ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done

# 1. Python 3.11.
command -v "$PY" >/dev/null 2>&1 || PY=python3
command -v "$PY" >/dev/null 2>&1 || die "no python3.11 or python3 on PATH (set PYTHON=/path/to/python3.11)"
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "Python 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"

# 2. The venv with the pinned stack; a stamp holds the hash of the requirement files.
VPY=$VENV/bin/python
STAMP=$VENV/.bench-deepxde-installed
WANT=$(cat "$REQ" "$REQ_NODEPS" | sha256sum | cut -d' ' -f1)
check_imports() {
  DDE_BACKEND=tensorflow "$VPY" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as m
assert m.version("tensorflow-cpu") == "2.18.1", m.version("tensorflow-cpu")
try:
    m.version("tensorflow")          # the full wheel must not sit over tensorflow-cpu
    raise SystemExit("distribution 'tensorflow' is installed next to tensorflow-cpu")
except m.PackageNotFoundError:
    pass
import tensorflow_probability, tf_keras, deepxde
from deepxde.backend import backend_name
assert backend_name == "tensorflow", backend_name
EOF
}
check_versions() {  # metadata only (no TensorFlow import): fast path for repeated calls
  "$VPY" - "$REQ" "$REQ_NODEPS" <<'EOF' >/dev/null 2>&1
import importlib.metadata as m, sys
for path in sys.argv[1:]:
    for line in open(path):
        line = line.split("#")[0].strip()
        if line:
            name, ver = line.split("==")
            assert m.version(name) == ver, (name, m.version(name), ver)
try:
    m.version("tensorflow")
    raise SystemExit(1)
except m.PackageNotFoundError:
    pass
EOF
}
if [ -x "$VPY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && check_versions; then
  :
else
  if [ -x "$VPY" ] && ! "$VPY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    say "existing $VENV is not Python 3.11: recreating"
    rm -rf "$VENV"
  fi
  [ -x "$VPY" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
  say "installing the pinned DeepXDE stack (benchmarks/deepxde/requirements*.txt)"
  # The full `tensorflow` distribution would overwrite tensorflow-cpu's files: remove it.
  "$VPY" -m pip uninstall -q -y tensorflow >/dev/null 2>&1 || true
  "$VPY" -m pip install -q --disable-pip-version-check -r "$REQ" \
    || die "pip install -r $REQ failed"
  "$VPY" -m pip install -q --disable-pip-version-check --no-deps -r "$REQ_NODEPS" \
    || die "pip install --no-deps -r $REQ_NODEPS failed"
  check_imports || {
    DDE_BACKEND=tensorflow "$VPY" -c 'import tensorflow_probability, tf_keras, deepxde' >&2 || true
    die "the DeepXDE venv does not import (tensorflow-cpu 2.18.1, tfp, tf_keras, deepxde with the tensorflow backend)"
  }
  echo "$WANT" > "$STAMP"
  say "ready: $("$VPY" -c 'import importlib.metadata as m; print(", ".join(f"{d} {m.version(d)}" for d in ("deepxde", "tensorflow-cpu", "tensorflow-probability", "tf-keras")))')"
fi

[ "$SETUP_ONLY" = 1 ] && exit 0

# 3. The benchmark (TF threads are set inside from --threads, default: all cores available).
if [ "$PARALLEL" -gt 0 ]; then
  if ! "$VPY" -c "import horovod.tensorflow, mpi4py" >/dev/null 2>&1; then
    WHEEL=$(ls "${PINNRUN_CACHE:-$HOME/.cache/pinnrun}"/wheels/tf2.18.1-cpu-*/horovod-0.28.1-*.whl 2>/dev/null | head -1)
    [ -n "$WHEEL" ] || die "no cached Horovod wheel for TF 2.18.1 (run scripts/setup.sh first: it builds one)"
    say "adding Horovod ($WHEEL) and mpi4py to $VENV"
    "$VPY" -m pip install -q --disable-pip-version-check "$WHEEL" mpi4py || die "installing Horovod/mpi4py failed"
  fi
  export DDE_BACKEND=tensorflow.compat.v1
  exec "$VENV/bin/horovodrun" -np "$PARALLEL" "$VPY" "$ROOT/scripts/bench_deepxde.py" ${ARGS[@]+"${ARGS[@]}"}
fi
exec "$VPY" "$ROOT/scripts/bench_deepxde.py" ${ARGS[@]+"${ARGS[@]}"}
