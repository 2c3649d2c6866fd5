#!/usr/bin/env bash
# Wheels for run_gpu_bench.sh, made here because the GPU machine reaches no package index: sgm's own packages and the
# small dependencies the bench imports that the machine's image lacks. Run from the repository root; the folder is
# kept out of git (.git/info/exclude) and carried to the device (`carry: ["bench-wheels"]`, under 64 MiB).
set -euo pipefail
OUT=${1:-bench-wheels}
mkdir -p "$OUT"
grep -qx "/$OUT/" .git/info/exclude 2>/dev/null || echo "/$OUT/" >> .git/info/exclude
for package in kernels core conditioners autoencoders video pipelines; do
  uv build --package "sgm-$package" --wheel --out-dir "$OUT" --quiet
done
# The machine's Python is 3.12 (packages/sgm-kernels/BENCHMARKS.md); pure-Python wheels are built here.
uv run --with pip python -m pip wheel --quiet --no-deps --wheel-dir "$OUT" \
  omegaconf "antlr4-python3-runtime==4.9.3" einops diffusers huggingface-hub filelock open-clip-torch ftfy wcwidth
uv run --with pip python -m pip download --quiet --no-deps --dest "$OUT" --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux2014_x86_64 safetensors regex
du -sh "$OUT"
