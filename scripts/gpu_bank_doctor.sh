#!/usr/bin/env bash
# One device call: the doctor's measured copy bandwidth and cuBLAS rate as JSON under $OUT, so the
# question bank can quote the H200 (or any GPU's) figures through `measured` entries.
# Usage: scripts/gpu_bank_doctor.sh [name]   -> $OUT/<name>_doctor.json (name defaults to h200)
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
NAME=${1:-h200}
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/env.txt"
timeout 300 python3 -m grader doctor --json > "$OUT/${NAME}_doctor.json" 2> "$OUT/${NAME}_doctor.err"
python3 -m json.tool "$OUT/${NAME}_doctor.json" | head -60
