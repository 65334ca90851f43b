#!/usr/bin/env bash
# Idempotent set-up: system MPI + cmake, .venv with the pinned stack, Horovod
# 0.28.1 built against it (wheel cached outside the repo), pinnrun itself.
# A second run only checks and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3.11}
TF_VERSION=2.18.1
HVD_VERSION=0.28.1
CACHE=${PINNRUN_CACHE:-$HOME/.cache/pinnrun}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}  # no TensorFlow banner in the checks below
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# 1. System packages (OpenMPI for the MPI controller and mpi4py; cmake for Horovod).
need_apt=()
command -v mpirun >/dev/null 2>&1 || need_apt+=(openmpi-bin)
[ -e /usr/include/x86_64-linux-gnu/openmpi ] || [ -e /usr/lib/x86_64-linux-gnu/openmpi/include ] \
  || dpkg -s libopenmpi-dev >/dev/null 2>&1 || need_apt+=(libopenmpi-dev)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v patch >/dev/null 2>&1 || need_apt+=(patch)  # scripts/patches/ on Horovod's source
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# 2. Virtual environment.
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "Python 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
[ -x .venv/bin/python ] || { say "creating .venv"; "$PY" -m venv .venv; }
VPY=$ROOT/.venv/bin/python
pip() { "$VPY" -m pip --disable-pip-version-check -q "$@"; }

# 3. TensorFlow (CUDA build only where a GPU driver answers).
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  TF_REQ="tensorflow[and-cuda]==$TF_VERSION"; VARIANT=cuda
else
  TF_REQ="tensorflow-cpu==$TF_VERSION"; VARIANT=cpu
fi
TF_DIST=${TF_REQ%%[=\[]*}  # tensorflow-cpu or tensorflow; its metadata answers without importing TF
if ! "$VPY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$TF_DIST') != '$TF_VERSION')" >/dev/null 2>&1; then
  say "installing $TF_REQ and build tools"
  pip install "pip>=24" "setuptools<70" wheel
  pip install "$TF_REQ"
fi

# 4. Horovod, built once per (TF variant, patches) and cached as a wheel. The patches fix
# Horovod bugs pinnrun's tests found (each file says which); an install built without the
# current ones is rebuilt.
PATCHES=("$ROOT"/scripts/patches/horovod-$HVD_VERSION-*.patch)
PATCH_TAG=$(cat "${PATCHES[@]}" | sha256sum | cut -c1-12)
WHEELS=$CACHE/wheels/tf$TF_VERSION-$VARIANT-$PATCH_TAG
PATCHED=.venv/.horovod-patches
has_all() {  # `horovodrun --check-build` always exits 0: read its text
  local check; check=$("$ROOT/.venv/bin/horovodrun" --check-build 2>&1) || return 1
  for want in TensorFlow Gloo MPI; do grep -Eq "\[X\] $want" <<<"$check" || return 1; done
}
# check-build imports TensorFlow once per framework (~30 s here): a stamp newer than the
# installed horovod records that this install already passed it.
STAMP=.venv/.horovod-verified
verified() {
  local dir; dir=$("$VPY" -c "import horovod, os; print(os.path.dirname(horovod.__file__))" 2>/dev/null) || return 1
  [ -f "$STAMP" ] && [ "$STAMP" -nt "$dir" ] && [ "$(cat "$PATCHED" 2>/dev/null)" = "$PATCH_TAG" ]
}
if "$VPY" -c "import horovod" >/dev/null 2>&1 && [ "$(cat "$PATCHED" 2>/dev/null)" != "$PATCH_TAG" ]; then
  say "installed horovod lacks scripts/patches/: rebuilding"
  pip uninstall -y horovod
fi
if ! verified && "$VPY" -c "import horovod.tensorflow" >/dev/null 2>&1; then
  if has_all; then
    touch "$STAMP"
  else
    say "installed horovod lacks TensorFlow, Gloo or MPI: rebuilding"
    pip uninstall -y horovod
    rm -f "$WHEELS"/horovod-*.whl
  fi
fi
if ! verified && ! "$VPY" -c "import horovod.tensorflow" >/dev/null 2>&1; then
  mkdir -p "$WHEELS"
  if ! ls "$WHEELS"/horovod-$HVD_VERSION-*.whl >/dev/null 2>&1; then
    say "building horovod $HVD_VERSION (TensorFlow + Gloo + MPI); takes a few minutes"
    pip install "cmake<4" packaging
    SRC=$(mktemp -d)
    pip download --no-deps --no-binary :all: -d "$SRC" "horovod==$HVD_VERSION" >/dev/null
    tar -xzf "$SRC"/horovod-$HVD_VERSION.tar.gz -C "$SRC"
    for p in "${PATCHES[@]}"; do patch -s -p1 -d "$SRC/horovod-$HVD_VERSION" < "$p" || die "patch $p failed"; done
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITH_MPI=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS=-j2 \
      "$VPY" -m pip --disable-pip-version-check wheel --no-build-isolation --no-cache-dir \
        --no-deps -w "$WHEELS" "$SRC/horovod-$HVD_VERSION" > "$CACHE/horovod-build.log" 2>&1 \
      || { tail -40 "$CACHE/horovod-build.log" >&2; die "horovod build failed (log: $CACHE/horovod-build.log)"; }
    rm -rf "$SRC"
  fi
  say "installing cached horovod wheel"
  pip install "$WHEELS"/horovod-$HVD_VERSION-*.whl
  echo "$PATCH_TAG" > "$PATCHED"
fi

# 5. pinnrun itself (editable) with its runtime and test dependencies.
if ! "$VPY" -c "import pinnrun, mpi4py, pytest" >/dev/null 2>&1 || [ pyproject.toml -nt .venv/.pinnrun-installed ]; then
  say "installing pinnrun"
  pip install -e ".[test]"
  touch .venv/.pinnrun-installed
fi

# 6. The build must really have TensorFlow, Gloo and MPI.
verified || { has_all && touch "$STAMP"; } || { "$ROOT/.venv/bin/horovodrun" --check-build >&2; die "horovod lacks TensorFlow, Gloo or MPI support (build log: $CACHE/horovod-build.log)"; }
say "ready: $("$VPY" -c "import importlib.metadata as m; print(f\"tensorflow {m.version('$TF_DIST')}, horovod {m.version('horovod')}\")") ($VARIANT)"
