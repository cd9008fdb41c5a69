"""Which op of a decode step breaks CUDA-graph capture on this GPU: each kernel-table op
captured alone on static inputs, then the whole engine with every op bound to its solution and
with one op at a time on its reference. Prints one JSON line per probe. GPU only."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def capture(name: str, fn, side_stream: bool) -> None:
    s = torch.cuda.Stream() if side_stream else None
    try:
        with torch.cuda.stream(s) if s else torch.cuda.stream(torch.cuda.current_stream()):
            fn(), fn()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=s):
            fn()
        g.replay()
        torch.cuda.synchronize()
        r = "ok"
    except Exception as e:  # noqa: BLE001
        r = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        gen = torch.cuda.default_generators[torch.cuda.current_device()]
        gen.graphsafe_set_state(gen.clone_state())
    try:
        torch.randn(4, device="cuda")
        rng = "ok"
    except Exception as e:  # noqa: BLE001
        rng = str(e)[:100]
    print(json.dumps({"probe": name, "side_stream": side_stream, "capture": r, "rng_after": rng}))


def ops() -> dict:
    from engine.ops import load_kernels

    k = load_kernels("auto", "cuda")
    x = torch.randn(4, 1024, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(1024, device="cuda", dtype=torch.bfloat16)
    lin = torch.randn(3072, 1024, device="cuda", dtype=torch.bfloat16)
    P, S, Hkv, D = 64, 16, 8, 128
    kc = torch.randn(P, S, Hkv, D, device="cuda", dtype=torch.bfloat16)
    q = torch.randn(4, 16, D, device="cuda", dtype=torch.bfloat16)
    tables = torch.randint(0, P, (4, 8), device="cuda", dtype=torch.int32)
    lens = torch.full((4,), 100, device="cuda", dtype=torch.int32)
    return {
        "rms_norm": lambda: k.rms_norm(x, w, 1e-6),
        "fused_add_rms_norm": lambda: k.fused_add_rms_norm(x, x, w, 1e-6),
        "linear_bf16": lambda: F.linear(x, lin),
        "paged_decode_attention": lambda: k.paged_decode_attention(q, kc, kc, tables, lens, 0.1),
        "index_copy": lambda: kc.view(-1, Hkv, D).index_copy_(0, lens[:2].long(), q[:2, :8]),
    }


def engine_probe(model: str, kernels) -> None:
    from engine import LLM, SamplingParams

    err = io.StringIO()
    with redirect_stderr(err):
        llm = LLM(model, dtype="bfloat16", kernels=kernels, max_model_len=512)
        llm.generate([[1, 2, 3]], SamplingParams(temperature=0, max_tokens=4), use_tqdm=False)
    notes = [line for line in err.getvalue().splitlines() if "graph" in line.lower()]
    graphs = llm.runner.graphs is not None
    print(json.dumps({"probe": f"engine {kernels}", "graphs_kept": graphs, "notes": notes[:2]}))


def main() -> None:
    for side in (False, True):
        for name, fn in ops().items():
            capture(name, fn, side)
    model = sys.argv[1]
    engine_probe(model, "auto")
    for op in ("rms_norm", "paged_attention", "softmax"):
        engine_probe(model, {op: "reference"})


if __name__ == "__main__":
    main()
