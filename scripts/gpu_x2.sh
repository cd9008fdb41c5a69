#!/usr/bin/env bash
# One device call on 2 H200s (kind nvidia-h200-x2) that runs two one-GPU jobs side by side, one
# per GPU (CUDA_VISIBLE_DEVICES), or one two-GPU job: the session's device minutes go twice as
# far, and no timed job shares its GPU with another. Each lane's output lands in $OUT/<lane>/.
#   scripts/gpu_x2.sh grade    GPU 0: `dojo grade --all --impl solution --save` (h200.json)
#                              GPU 1: scripts/gpu_peers.sh (h200_peers.json)
#   scripts/gpu_x2.sh engine   GPU 0: scripts/gpu_engine.sh (h200_engine.json)
#                              GPU 1: scripts/gpu_engine_spec.sh, then gpu_redteam.sh bench
#   scripts/gpu_x2.sh ep       both: ep_all_to_all graded on 2 GPUs (h200x2.json), then
#                              scripts/gpu_engine_moe.sh, then tests/distributed (2 GPUs)
#   scripts/gpu_x2.sh verify   GPU 0: scripts/gpu_engine.sh stages chat and 8b, then the
#                              fp8-vs-bf16 KV stage of gpu_engine_spec.py
#                              GPU 1: the engine tests and tests/gpu, gpu_redteam.sh bench,
#                              online_softmax and spec_decode benched (the clock floor)
#   scripts/gpu_x2.sh suite    GPU 0: scripts/gpu_smollm2_weights.sh run (the default model's
#                              halves carried: see there), then scripts/gpu_bs1_profile.py
#                              GPU 1: the full test suite, pytest -n 8 (scripts/gpu_suite_part.sh)
#   scripts/gpu_x2.sh kernels  GPU 0: the smem_transpose and online_softmax sweeps, then both
#                              benched as the grader scores them (transpose with its peers)
#                              GPU 1: the spec_decode sweep and bench, then GPU tests of what
#                              changed (tests/gpu, the three problems, the verdict tests that
#                              failed under -n 8, the server); then ep_all_to_all graded on both
#   scripts/gpu_x2.sh final    GPU 0: grade --all (h200.json); GPU 1: scripts/gpu_peers.sh
#                              (h200_peers.json); each stops itself at 540 s
#   scripts/gpu_x2.sh rest     what session 7 left unverified: GPU 0: pytest -n 8 over the
#                              problems/ not yet run on a GPU; GPU 1: paged_attention's peers
#                              (the reference worker's cache trim), its wrong variants, the
#                              launch-limit and CUDA-fault bad attempts, then the ncu
#                              evidence of the bars not reached (scripts/gpu_ncu_evidence.sh)
#   scripts/gpu_x2.sh sweeps   GPU 0: the wmma_gemm and paged B = 1 sweeps, GPU 1: the
#                              spec_decode sweep and the CUDA-fault probe, then the test suite
#                              in two halves, one per GPU (pytest -n 8 each, until 440 s);
#                              then both GPUs: the ep_all_to_all sweep
#   scripts/gpu_x2.sh sweeps1  the four one-GPU sweeps of `sweeps`, one after another, on one H200
#   scripts/gpu_x2.sh peers1   `final`'s GPU 1 on one H200 (the fault probe first); then
#   scripts/gpu_x2.sh grade1   `final`'s GPU 0, then the GPU verdict tests of wmma_gemm,
#                              spec_decode and the CUDA-fault attempts
#   scripts/gpu_x2.sh measure1 one H200: the paged B = 1, rms_norm and online_softmax sweeps,
#                              then paged_attention and online_softmax benched with their peers
#   scripts/gpu_x2.sh suite1   one H200: paged_attention benched, then the whole suite (-n 8)
#   scripts/gpu_x2.sh rest1    one H200: three problems benched, then what suite1 left
#   scripts/gpu_x2.sh paged1   one H200: paged B = 1's merge options and rms_norm's persistent
#                              grid timed, both tested on the GPU with the peers' bound, then
#                              paged_attention benched with its peers
#   scripts/gpu_x2.sh next     GPU 0: paged_attention's B = 1 sweep, the rms_norm knobs, then
#                              tests/sandbox + tests/gpu; GPU 1: tests/unit + tests/engine
#                              (pytest -n 8 each); then both GPUs: the ep_all_to_all sweep
# Everything under $OUT is also packed into $OUT/all.tgz (a call returns a few files only).
# Every lane stops itself before the call's 600 s: a lane cut short still leaves its files.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
# gguf, ruff; the server's and Liger's wheels: one pip call (a second --target install would
# replace /tmp/site/bin, ruff's included), once per machine
wheels=$(ls .device/wheels/*.whl .device/serve/*.whl 2> /dev/null)
[ -e /tmp/site/.dojo-wheels ] || { [ -n "$wheels" ] && python3 -m pip install -q --no-deps \
    --no-index --upgrade --target /tmp/site $wheels && touch /tmp/site/.dojo-wheels; }
export PYTHONPATH=$PWD:/tmp/site PATH=$PATH:/tmp/site/bin PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1  # NVLink multicast stays off
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | tee "$OUT/env.txt"

lane() {  # lane NAME GPU CMD...: CMD with only that GPU visible, its output under $OUT/NAME
    local name=$1 gpu=$2 top=$OUT; shift 2; mkdir -p "$OUT/$name"
    ( export CUDA_VISIBLE_DEVICES=$gpu OUT=$top/$name; t0=$SECONDS
      "$@" > "$OUT/lane.log" 2>&1
      echo "lane $name: exit $? after $((SECONDS - t0)) s" | tee -a "$top/lanes.txt" ) &
}
grade_all() {
    timeout 540 python3 -m grader grade --all --impl solution --json --save "$OUT/h200.json" \
        > "$OUT/grade.json" 2> "$OUT/grade.err"
    echo "grade exit $?"; tail -5 "$OUT/grade.err"
}
spec_then_redteam() {
    timeout 300 bash scripts/gpu_engine_spec.sh
    timeout 240 bash scripts/gpu_redteam.sh bench
}
checks_then_redteam() {
    timeout 150 python3 -m pytest tests/engine tests/gpu -n 8 -p no:cacheprovider -q -rfE \
        --tb=short --deselect \
        tests/engine/test_weights.py::test_real_wheel_gives_the_recorded_greedy_continuation \
        > "$OUT/pytest.txt" 2>&1; tail -3 "$OUT/pytest.txt"
    timeout 260 bash scripts/gpu_redteam.sh bench
    for slug in online_softmax spec_decode; do  # the shortest calls: the clock floor's margin
        timeout 60 python3 -m grader bench $slug --impl solution --json > "$OUT/bench_$slug.json" \
            2> "$OUT/bench_$slug.err"
    done
}
fp8_stage() {
    timeout 40 python3 scripts/gpu_engine_spec.py make /tmp/spec_models 2>&1 | tail -1
    timeout 100 python3 scripts/gpu_engine_spec.py fp8 /tmp/spec_models --out "$OUT/fp8.json" \
        --budget-gb 3 --requests 192 2>&1 | tail -4
}
engine_stages() {
    STAGES="chat 8b" timeout 380 bash scripts/gpu_engine.sh
    fp8_stage
}
ep_grade() {
    timeout 120 python3 -m grader grade ep_all_to_all --impl solution --json \
        --save "$OUT/h200x2.json" > "$OUT/grade_ep.json" 2> "$OUT/grade_ep.err"
    echo "grade ep_all_to_all exit $?"; tail -3 "$OUT/grade_ep.err"
}
ep() {
    timeout 150 python3 -m grader grade ep_all_to_all --impl solution --json \
        --save "$OUT/h200x2.json" > "$OUT/grade_ep.json" 2> "$OUT/grade_ep.err"
    echo "grade ep_all_to_all exit $?"; tail -3 "$OUT/grade_ep.err"
    timeout 330 bash scripts/gpu_engine_moe.sh
    timeout 90 python3 -m pytest tests/distributed -p no:cacheprovider -q -rfEs --tb=short \
        > "$OUT/pytest_distributed.txt" 2>&1; tail -3 "$OUT/pytest_distributed.txt"
}
smollm2_then_bs1() {
    timeout 330 bash scripts/gpu_smollm2_weights.sh run
    timeout 200 python3 scripts/gpu_bs1_profile.py "$OUT/bs1_profile.json" 2>&1 | tail -25
}
bench_json() {  # bench_json SLUG [FLAGS...]: `dojo bench` as JSON, and a one-line summary
    local slug=$1; shift
    timeout 150 python3 -m grader bench "$slug" --impl solution --json "$@" \
        > "$OUT/bench_$slug.json" 2> "$OUT/bench_$slug.err"
    python3 - "$OUT/bench_$slug.json" <<'PY' 2>&1 | tail -4
import json, sys
b = json.load(open(sys.argv[1]))
cases = [(round(c.get("fraction") or 0, 3), round(c.get("median_ms") or 0, 4)) for c in b.get("cases", [])]
peers = [(p.get("label", p.get("name")), p.get("status"), p.get("fraction")) for p in b.get("peers", [])]
print(sys.argv[1].rsplit("/", 1)[-1], b.get("status"), b.get("tier"), cases, peers, b.get("message", "")[:300])
PY
}
kernel_sweeps() {
    timeout 150 python3 scripts/gpu_transpose_sweep.py > "$OUT/transpose_sweep.txt" 2>&1
    tail -4 "$OUT/transpose_sweep.txt"
    timeout 150 python3 scripts/gpu_softmax_sweep.py > "$OUT/softmax_sweep.txt" 2>&1
    tail -12 "$OUT/softmax_sweep.txt"
    bench_json smem_transpose --peers
    bench_json online_softmax
}
spec_and_checks() {
    timeout 100 python3 scripts/gpu_spec_sweep.py > "$OUT/spec_sweep.txt" 2>&1
    tail -12 "$OUT/spec_sweep.txt"
    bench_json spec_decode
    bash scripts/gpu_suite_part.sh changed 300 8 tests/gpu problems/smem_transpose \
        problems/online_softmax problems/spec_decode tests/sandbox/test_isolation.py \
        tests/sandbox/test_sandbox_verdicts.py tests/sandbox/test_rules_verdicts.py \
        tests/engine/test_server.py tests/engine/test_server_openai.py tests/unit/test_memory_watch.py
}
final_grade() {  # --save writes after every problem: a run cut short keeps what it graded
    timeout 540 python3 -m grader grade --all --impl solution --json --save "$OUT/h200.json" \
        > "$OUT/grade.json" 2> "$OUT/grade.err"
    echo "grade exit $?"; tail -3 "$OUT/grade.err"
}
rest_problems() {
    bash scripts/gpu_suite_part.sh problems 540 8 problems/warp_reduce problems/wmma_gemm \
        problems/rms_norm problems/moe_dispatch problems/radix_tree problems/fp8_quant \
        problems/paged_attention problems/ep_all_to_all
}
rest_paged() {
    bench_json paged_attention --peers
    bash scripts/gpu_suite_part.sh int32 200 2 tests/sandbox/test_problems_reject_wrong_answers.py \
        tests/gpu/test_fault_attribution_gpu.py -k "paged_attention or fault_attribution"
    timeout 160 bash scripts/gpu_ncu_evidence.sh 110
}
sweeps_then_suite_a() {  # session 8: the GEMM and paged B = 1 sweeps, then half the suite
    timeout 180 python3 scripts/gpu_wmma_sweep.py > "$OUT/wmma_sweep.txt" 2>&1
    tail -24 "$OUT/wmma_sweep.txt"
    timeout 70 python3 scripts/gpu_paged_attention.py "$OUT" --long > "$OUT/paged_long.txt" 2>&1
    tail -4 "$OUT/paged_long.txt"
    bash scripts/gpu_suite_part.sh sandbox_gpu $((440 - SECONDS)) 8 tests/sandbox tests/gpu
}
sweeps_then_suite_b() {  # the spec_decode sweep and the CUDA-fault probe, then the other half
    timeout 90 python3 scripts/gpu_spec_sweep.py > "$OUT/spec_sweep.txt" 2>&1
    tail -24 "$OUT/spec_sweep.txt"
    timeout 100 python3 scripts/gpu_fault_probe.py > "$OUT/fault_probe.txt" 2>&1
    head -c 3000 "$OUT/fault_probe.txt"
    bash scripts/gpu_suite_part.sh unit_engine $((440 - SECONDS)) 8 tests/unit tests/engine
}
sweeps_one_gpu() {  # the sweeps of `sweeps` on one H200 (when two are not lent), no suite
    timeout 170 python3 scripts/gpu_wmma_sweep.py > "$OUT/wmma_sweep.txt" 2>&1
    tail -24 "$OUT/wmma_sweep.txt"
    timeout 90 python3 scripts/gpu_spec_sweep.py > "$OUT/spec_sweep.txt" 2>&1
    tail -24 "$OUT/spec_sweep.txt"
    timeout 70 python3 scripts/gpu_paged_attention.py "$OUT" --long > "$OUT/paged_long.txt" 2>&1
    tail -4 "$OUT/paged_long.txt"
    timeout 100 python3 scripts/gpu_fault_probe.py > "$OUT/fault_probe.txt" 2>&1
    head -c 3000 "$OUT/fault_probe.txt"
}
probe_then_peers() {  # one H200: where the CUDA-fault check stalls, then every problem's peers
    timeout 60 python3 scripts/gpu_fault_probe.py > "$OUT/fault_probe.txt" 2>&1
    head -c 2500 "$OUT/fault_probe.txt"
    PEERS_S=$((570 - SECONDS)) bash scripts/gpu_peers.sh
}
grade_then_checks() {  # one H200: grade --all, then the GPU-only verdict tests of this session
    timeout 465 python3 -m grader grade --all --impl solution --json --save "$OUT/h200.json" \
        > "$OUT/grade.json" 2> "$OUT/grade.err"
    echo "grade exit $?"; tail -3 "$OUT/grade.err"
    bash scripts/gpu_suite_part.sh verdicts $((575 - SECONDS)) 4 tests/gpu/test_fault_attribution_gpu.py \
        tests/sandbox/test_problems_reject_wrong_answers.py -k "wmma or spec or fault_attribution"
}
next_a() {  # session 9's plan, GPU 0: the two sweeps this session could not finish, half the suite
    timeout 80 python3 scripts/gpu_paged_attention.py "$OUT" --long > "$OUT/paged_long.txt" 2>&1
    tail -6 "$OUT/paged_long.txt"
    timeout 60 python3 scripts/sweep.py rms_norm "$OUT/rms_sweep.json" > "$OUT/rms_sweep.txt" 2>&1
    tail -8 "$OUT/rms_sweep.txt"
    bash scripts/gpu_suite_part.sh sandbox_gpu $((440 - SECONDS)) 8 tests/sandbox tests/gpu
}
measure_one_gpu() {  # session 9, one H200: the sweeps not yet run, then two problems' peers
    timeout 90 python3 scripts/gpu_paged_attention.py "$OUT" --long > "$OUT/paged_long.txt" 2>&1
    tail -6 "$OUT/paged_long.txt"
    timeout 45 python3 scripts/sweep.py rms_norm "$OUT/rms_sweep.json" > "$OUT/rms_sweep.txt" 2>&1
    tail -8 "$OUT/rms_sweep.txt"
    timeout 110 python3 scripts/sweep.py online_softmax "$OUT/softmax_sweep.json" \
        > "$OUT/softmax_sweep.txt" 2>&1
    tail -30 "$OUT/softmax_sweep.txt"
    bench_json paged_attention --peers
    bench_json online_softmax --peers
}
paged_then_suite() {  # one H200: paged_attention benched (B = 1 on the worker's own memory),
    # then the whole suite with pytest -n 8 in the time left
    timeout 70 python3 -m grader bench paged_attention --impl solution --json \
        > "$OUT/bench_paged_attention.json" 2> "$OUT/bench_paged_attention.err"
    grep -o '"fraction": [0-9.]*' "$OUT/bench_paged_attention.json" | head -4
    bash scripts/gpu_suite_part.sh all $((585 - SECONDS)) 8
}
benches_then_rest() {  # one H200: the three multi-kernel solutions benched on the worker's own
    # memory, then what suite1 did not finish or failed, and paged_attention's and the engine's
    # GPU tests again (the combine now launched by PDL, inside the engine's CUDA graphs too)
    ruff check --quiet . 2>&1 | head -20
    for slug in paged_attention spec_decode online_softmax; do
        timeout 80 python3 -m grader bench $slug --impl solution --json \
            > "$OUT/bench_$slug.json" 2> "$OUT/bench_$slug.err"
        echo "$slug $(grep -o '"fraction": [0-9.]*' "$OUT/bench_$slug.json" | head -4 | tr '\n' ' ')"
    done
    bash scripts/gpu_suite_part.sh rest $((585 - SECONDS)) 8 problems/paged_attention \
        tests/sandbox/test_problems_reject_wrong_answers.py tests/unit/test_stubs.py \
        tests/unit/test_gpu_etiquette.py tests/unit/test_online_softmax_split_merge.py \
        tests/unit/test_style.py tests/gpu tests/engine
}
paged_next() {  # session 11's first call, one H200: the merge options timed (PDL, fused),
    # the fused path, the peers' bound and the worker's sealed clock on the GPU, then
    # paged_attention with its peers
    timeout 120 python3 scripts/gpu_paged_attention.py "$OUT" --long > "$OUT/paged_long.txt" 2>&1
    tail -6 "$OUT/paged_long.txt"
    timeout 70 python3 scripts/sweep.py rms_norm "$OUT/rms_sweep.json" > "$OUT/rms_sweep.txt" 2>&1
    tail -16 "$OUT/rms_sweep.txt"
    bash scripts/gpu_suite_part.sh fused 150 8 tests/unit/test_paged_fused_merge.py \
        tests/unit/test_paged_peer_bound.py tests/unit/test_rms_norm_persistent.py \
        problems/paged_attention tests/gpu/test_timing_gpu.py tests/sandbox/test_isolation.py
    bench_json paged_attention --peers
}
ep_sweep() {
    timeout 110 python3 scripts/gpu_ep_sweep.py > "$OUT/ep_sweep.txt" 2>&1
    tail -25 "$OUT/ep_sweep.txt"
}
case "${1:-}" in
grade)  lane grade 0 grade_all; lane peers 1 bash scripts/gpu_peers.sh ;;
engine) lane engine 0 timeout 560 bash scripts/gpu_engine.sh; lane spec 1 spec_then_redteam ;;
ep)     lane ep 0,1 ep ;;
kernels) lane kernels 0 kernel_sweeps; lane checks 1 spec_and_checks; wait
         lane ep 0,1 ep_grade ;;
rest)   lane problems 0 rest_problems; lane paged 1 rest_paged ;;
sweeps) lane sweeps_a 0 sweeps_then_suite_a; lane sweeps_b 1 sweeps_then_suite_b; wait
        lane ep 0,1 ep_sweep ;;
sweeps1) lane sweeps 0 sweeps_one_gpu ;;
next)   lane next_a 0 next_a
        lane suite_b 1 bash scripts/gpu_suite_part.sh unit_engine 430 8 tests/unit tests/engine; wait
        lane ep 0,1 ep_sweep ;;
peers1) lane peers 0 probe_then_peers ;;
measure1) lane measure 0 measure_one_gpu ;;
suite1) lane suite 0 paged_then_suite ;;
rest1)  lane rest 0 benches_then_rest ;;
paged1) lane paged 0 paged_next ;;
grade1) lane grade 0 grade_then_checks ;;
final)  lane grade 0 final_grade; lane peers 1 bash scripts/gpu_peers.sh ;;
suite)  lane smollm2 0 smollm2_then_bs1; lane suite 1 bash scripts/gpu_suite_part.sh all 560 8 tests ;;
verify) lane engine 0 engine_stages
        lane checks 1 checks_then_redteam ;;
*)      echo "usage: $0 grade|engine|ep|verify|suite|kernels|final|rest|sweeps|sweeps1|peers1|grade1|next|measure1|suite1|rest1|paged1"; exit 2 ;;
esac
wait
cat "$OUT/lanes.txt"
for f in "$OUT"/*/lane.log; do echo "== $f"; tail -15 "$f"; done
tar czf /tmp/all.tgz -C "$OUT" . && find "$OUT" -mindepth 1 -delete && mv /tmp/all.tgz "$OUT/"
