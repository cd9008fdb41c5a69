"""Compiles each restructured Triton kernel and its version at commit BASE to PTX for sm_90 (no
GPU needed) and prints whether the instructions are identical (debug lines and names removed).

Usage: python scripts/ptx_unchanged.py [BASE]   (from the repository root, with git history)
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

sys.path.insert(0, str(Path.cwd()))
from solutions.fp8_quant import triton as fp8  # noqa: E402
from solutions.online_softmax import triton as sm  # noqa: E402
from solutions.rms_norm import triton as rms  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)


def old_module(path: str, base: str):
    src = subprocess.run(
        ["git", "show", f"{base}:{path}"], capture_output=True, text=True, check=True
    )
    f = Path(tempfile.mkdtemp()) / f"old_{Path(path).parent.name}.py"
    f.write_text(src.stdout)
    spec = importlib.util.spec_from_file_location(f.stem, f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ptx(fn, sig: dict, constexprs: dict, num_warps: int) -> list[str]:
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs)
    text = triton.compile(src, target=TARGET, options={"num_warps": num_warps}).asm["ptx"]
    lines = [ln.split("//")[0].strip() for ln in text.split(".section")[0].splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith((".loc", ".file", "$L__tmp", "$L__f"))]
    return [re.sub(r"\b_\w+kernel\w*", "K", ln) for ln in lines]


def pairs(base: str):
    """(name, old kernel + signature + constexprs, new kernel + the same + its steps, warps)."""
    o_rms = old_module("solutions/rms_norm/triton.py", base)
    o_sm = old_module("solutions/online_softmax/triton.py", base)
    o_fp8 = old_module("solutions/fp8_quant/triton.py", base)
    for dt in ("*bf16", "*fp16", "*fp32"):
        s = {f"{n}": dt for n in ("x_ptr", "w_ptr", "out_ptr")}
        s |= {"H": "i32", "eps": "fp32", "x_row_stride": "i32", "out_row_stride": "i32"}
        c = {"BLOCK_H": 4096}
        yield (
            f"rms_norm {dt}",
            (o_rms._rms_norm_kernel, s, c),
            (rms._rms_norm_kernel, s, c | {"INV_RMS": rms._inv_rms}),
            8,
        )
        s = {"x_ptr": dt, "out_ptr": dt, "N": "i32", "x_row_stride": "i32", "out_row_stride": "i32"}
        steps = {"SHIFT": sm._finite_or_zero, "DIVIDE": sm._divide}
        yield (
            f"softmax row {dt}",
            (o_sm._softmax_row_kernel, s, {"BLOCK": 8192}),
            (sm._softmax_row_kernel, s, {"BLOCK": 8192, "EVICT": ""} | steps),
            8,
        )
        steps |= {"RESCALE": sm._rescaled}
        yield (
            f"softmax looped {dt}",
            (o_sm._softmax_looped_kernel, s, {"BLOCK": 4096}),
            (sm._softmax_looped_kernel, s, {"BLOCK": 4096} | steps),
            8,
        )
        # the split kernel is not compared: it changed by design (packed (max, sum) words
        # instead of an arrival counter, 990776d)
        s = {"x_ptr": dt, "q_ptr": "*u8", "s_ptr": "*fp32", "n_groups": "i32"}
        c = {"GROUP": 128, "BLOCK_G": 128, "GROUPS": 32}
        for hw, bits in ((True, fp8._e4m3_bits_by_cast), (False, fp8._e4m3_bits)):
            yield (
                f"quant_fp8 {dt} hw_cast={hw}",
                (o_fp8._quant_fp8_kernel, s, c | {"HW_CAST": hw}),
                (fp8._quant_fp8_kernel, s, c | {"SCALES": fp8._group_scales, "E4M3_BITS": bits}),
                4,
            )


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "203e171"
    results = {}
    for name, (f0, s0, c0), (f1, s1, c1), warps in pairs(base):
        sig0 = {n: t for n, t in s0.items()} | {k: "constexpr" for k in c0}
        sig1 = {n: t for n, t in s1.items()} | {k: "constexpr" for k in c1}
        a, b = ptx(f0, _ordered(f0, sig0), c0, warps), ptx(f1, _ordered(f1, sig1), c1, warps)
        results[name] = {"identical": a == b, "old_lines": len(a), "new_lines": len(b)}
        print(f"{name}: {'identical' if a == b else 'DIFFERENT'} ({len(a)} vs {len(b)} lines)")
    print(json.dumps({"triton": triton.__version__, "results": results}))


def _ordered(fn, sig: dict) -> dict:
    return {n: sig[n] for n in fn.arg_names}


if __name__ == "__main__":
    main()
