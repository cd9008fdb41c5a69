#!/usr/bin/env bash
# Nsight Compute evidence for the statements' "speed of light" sections (issue 14: a bar not
# reached says what limits it): the full SpeedOfLight, memory, warp-state and occupancy sections
# of one profiled call of each solution on one bench case, as text in $OUT/ncu_<slug>_<case>.txt.
# Usage (on the GPU): OUT=... bash scripts/gpu_ncu_evidence.sh [SECONDS]
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; limit=${1:-150}
export PYTHONPATH=${PYTHONPATH:-$PWD}
profile() {  # profile SLUG IMPL CASE
    timeout 60 ncu --clock-control none --profile-from-start off --section SpeedOfLight \
        --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
        --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
        python3 -m grader.perf.ncu_target "$1" "$2" "$3" > "$OUT/ncu_$1_$3.txt" 2>&1
    echo "ncu $1 case $3: exit $?"
    grep -E "^  [a-zA-Z_].*\(|Duration|DRAM Throughput|Memory Throughput|Compute \(SM\)|Registers Per|Achieved Occupancy|Issue Slots Busy|One or More Eligible" "$OUT/ncu_$1_$3.txt" | head -40
}
SECONDS=0
for job in "wmma_gemm solution 0" "online_softmax solution 1" "spec_decode solution:triton 0" \
           "rms_norm solution 0"; do
    [ $SECONDS -lt "$limit" ] && profile $job
done
