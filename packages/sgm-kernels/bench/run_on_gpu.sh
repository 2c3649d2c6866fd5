#!/usr/bin/env bash
# One device run: the benchmark, then the kernel tests on CUDA (bf16 included). Run from the repository root with
# the machine's own python3 (torch + triton); results go to $OUT (default ./bench-out).
set -o pipefail
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/packages/sgm-kernels/src:$PWD/packages/sgm-core/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import sys, torch, triton; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)"
} 2>&1 | tee "$OUT/env.txt"
timeout "${BENCH_TIMEOUT:-330}" python3 packages/sgm-kernels/bench/bench_kernels.py --json "$OUT/bench.json" "$@" 2>&1 \
  | tee "$OUT/bench.log"
start=$(date +%s)
# Each kernel variant is compiled on first use (fp32 ones slowly): spread the tests over processes when xdist is there.
parallel=$(python3 -c "import xdist" 2>/dev/null && echo "-n 16")
timeout "${TEST_TIMEOUT:-240}" python3 -m pytest packages/sgm-kernels/tests -q -p no:cacheprovider $parallel 2>&1 \
  | tee "$OUT/tests.log"
echo "tests took $(( $(date +%s) - start )) s" | tee -a "$OUT/tests.log"
