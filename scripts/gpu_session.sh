#!/usr/bin/env bash
# One device call: environment facts, GPU tests, benches and sweeps; logs under $OUT.
# Usage: scripts/gpu_session.sh "<pytest paths>" "<problems to bench>" [sweep names]
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv; python3 -c \
  'import torch,triton,sys; import importlib.metadata as m; print(sys.version.split()[0], torch.__version__, triton.__version__, m.version("cupy-cuda13x"), m.version("hypothesis"), m.version("typer"))'; which nvcc ncu; } 2>&1 | tee "$OUT/env.txt"
if [ -n "$1" ]; then
  timeout 420 python3 -m pytest $1 -q -p no:cacheprovider -x --hypothesis-profile=ci 2>&1 | tail -40 | tee "$OUT/pytest.txt"
fi
for slug in $2; do
  timeout 200 python3 -m grader bench "$slug" --impl solution --json > "$OUT/bench_$slug.json" 2> "$OUT/bench_$slug.err"
  python3 -c "import json,sys; b=json.load(open('$OUT/bench_$slug.json')); print('$slug', b.get('status'), b.get('tier'), [(round(c['fraction'],3), round(c['median_ms'],4)) for c in b.get('cases',[])], b.get('message',''))"
done
shift 2
for s in "$@"; do timeout 300 python3 scripts/sweep.py "$s" "$OUT/sweep_$s.json" 2>&1 | tail -20; done
