#!/usr/bin/env bash
# One device run of a GPU bench, from the repository root, with the machine's own python3 (torch, triton):
#   bash packages/sgm-pipelines/bench/run_gpu_bench.sh gpu_e2e [its options]       # ours against diffusers
#   bash packages/sgm-pipelines/bench/run_gpu_bench.sh plan_vs_cuda [its options]  # the memory plan against CUDA
# sgm's packages and the small dependencies the machine lacks come as wheels in the carried folder bench-wheels/
# (made here first: packages/sgm-pipelines/bench/prepare_gpu_wheels.sh), installed without an index and without
# their other dependencies (the machine's image has the rest). Results go to $OUT (default ./bench-out).
# Device call: carry ["bench-wheels"], timeout_s 600.
set -o pipefail
BENCH=${1:?which bench: gpu_e2e or plan_vs_cuda}
shift
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
python3 -m pip install --quiet --no-index --no-deps bench-wheels/*.whl 2>&1 | tail -3
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
  python3 -c "import diffusers; print('diffusers', diffusers.__version__)" || echo "diffusers: not installed"
} 2>&1 | tee "$OUT/env.txt"
case "$BENCH" in
  gpu_e2e) set -- --json "$OUT/e2e.json" "$@" ;;
esac
timeout "${BENCH_TIMEOUT:-540}" python3 "packages/sgm-pipelines/bench/$BENCH.py" "$@" 2>&1 | tee "$OUT/$BENCH.log"
