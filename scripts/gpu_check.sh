#!/usr/bin/env bash
# GPU readiness, in one prepared run on a machine with an NVIDIA GPU (and the network, to install):
#
#   scripts/gpu_check.sh 2>&1 | tee gpu_check.log
#
# 1. Sets up the CUDA build: scripts/setup.sh installs tensorflow[and-cuda] where nvidia-smi
#    answers and builds Horovod against it (a fresh .venv: the CPU build does not see GPUs).
# 2. Runs the GPU-marked tests (tests/test_gpu.py: the rank claims the GPU; loss and gradient
#    there equal the CPU's, whole and in micro-batches).
# 3. Trains a 4x256 tanh network (float32, the Burgers residual) on 2^16 ... 2^22 points, whole
#    or, where the GPU's memory is short, in micro-batches of 2^18: points/s and peak GPU memory
#    (scripts/bench_memory.py --gpu, benchmarks/gpu.json).
# 4. The multi-rank path on the one GPU: `pinnrun train --np 2 --gpus` (two ranks share it; Horovod's
#    build here has no NCCL, so the all-reduce goes through host memory), then `pinnrun inspect`.
# Every step prints what it found; the first failure stops the script with its exit status.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m[gpu_check]\033[0m %s\n' "$*"; }

say "1/4 the GPU and the CUDA build"
nvidia-smi -L || { echo "gpu_check: no NVIDIA GPU answers (nvidia-smi -L)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
if [ -x .venv/bin/python ] && .venv/bin/python -c "import importlib.metadata as m; m.version('tensorflow-cpu')" 2>/dev/null; then
  say ".venv holds the CPU build of TensorFlow: moving it to .venv-cpu for the CUDA build"
  rm -rf .venv-cpu && mv .venv .venv-cpu
fi
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python - <<'PY'
import sys
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print("TensorFlow", tf.__version__, "sees", [tf.config.experimental.get_device_details(g).get("device_name") for g in gpus])
sys.exit(0 if gpus else 1)
PY
.venv/bin/horovodrun --check-build

say "2/4 the GPU-marked tests"
.venv/bin/python -m pytest -q -p no:cacheprovider -m gpu -rs tests/

say "3/4 points/s and peak GPU memory, 4x256 tanh, 2^16 ... 2^22 points"
.venv/bin/python scripts/bench_memory.py --gpu

say "4/4 two ranks on the one GPU"
out=$(mktemp -d)
.venv/bin/pinnrun train problems/burgers.yaml --np 2 --gpus --out "$out/two-ranks" \
  --set training.adam.steps=1000 --set training.lbfgs.steps=500
.venv/bin/pinnrun inspect "$out/two-ranks"
say "done: record benchmarks/gpu.json and the numbers above in docs/performance.md"
