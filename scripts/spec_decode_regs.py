"""Registers per thread of spec_decode's Triton kernels for sm_90 (H100/H200), compiled ahead of
time on a machine without a GPU: Triton's own ptxas builds the cubin, its cuobjdump reads the
resource usage. Registers decide how many programs an SM holds at once (65536 per SM), so
whether the bench case's B * SPLIT programs run in one wave.

Usage (from the repository root; no GPU, a few seconds per plan, this checkout's Triton):
    PYTHONPATH=$PWD python scripts/spec_decode_regs.py
Prints one line per plan of scripts/gpu_spec_sweep.py and for the shipped kernels. The GPU
machine's Triton may differ in version: the numbers are for the Triton installed here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # compile for real, before triton is imported
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import gpu_spec_sweep as sweep  # noqa: E402

from solutions.spec_decode import triton as sol  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
TYPES = {"tok_ptr": "*i64", "out_ptr": "*i64", "count_ptr": "*i64", "arrived_ptr": "*i32"}
INTS = {"B", "G", "V", "NB", "STRIDE", "SUMS_STRIDE"}
ALIGNED = {"V", "STRIDE"}  # the bench case's V = 128256 is a multiple of 16, like the pointers
V, G = 128256, 5  # the bench case


def registers(fn, consts: dict, warps: int) -> str:
    """'REG:n ...' of fn compiled for sm_90 with these constexprs."""
    names = list(fn.arg_names)
    kind = {n: TYPES.get(n, "i32" if n in INTS else "*fp32") for n in names}
    sig = {n: "constexpr" if n in consts else kind[n] for n in names}
    constexprs = {(names.index(n),): v for n, v in consts.items()}
    attrs = {
        (i,): [["tt.divisibility", 16]]
        for i, n in enumerate(names)
        if n not in consts and (kind[n].startswith("*") or n in ALIGNED)
    }
    src = ASTSource(fn, sig, constexprs, attrs)
    cubin = triton.compile(src, target=TARGET, options={"num_warps": warps}).asm["cubin"]
    with tempfile.NamedTemporaryFile("wb", suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run(
            [str(CUOBJDUMP), "--dump-resource-usage", f.name], capture_output=True, text=True
        ).stdout
    usage = [line.strip() for line in out.splitlines() if "REG:" in line]
    return " ".join(usage[0].split()[:4]) if usage else out[-200:]


def plan_line(name: str, plan: sol.Plan) -> str:
    nb = triton.cdiv(V, plan.block)
    per = min(plan.per_program, triton.cdiv(nb, plan.sub) * plan.sub)
    split = triton.cdiv(nb, per)
    consts = dict(ROWS=1, G_PAD=8, NB_PAD=triton.next_power_of_2(split * per), BLOCK=plan.block)
    stream = dict(SUB=plan.sub, PER_PROGRAM=per, SPLIT=split, COMBINE=plan.fused)
    text = f"{name:<24} {128 * split:>5} programs  " + registers(
        sol._verify_kernel, {**consts, **stream}, plan.warps
    )
    if not plan.fused:
        text += "  | combine " + registers(sol._combine_kernel, consts, plan.warps)
    return text


def main() -> None:
    for name, plan in sweep.PLANS.items():
        try:
            print(plan_line(name, plan), flush=True)
        except Exception as e:  # noqa: BLE001 - a plan that does not compile is the finding
            print(f"{name:<24} does not compile: {type(e).__name__}: {str(e)[:300]}")
    old = sweep.shipped_module()
    print("shipped block sums      ", registers(old._block_sums_kernel, dict(ROWS=1, G_PAD=8,
          BLOCK=2048, PER_PROGRAM=8), 4))  # fmt: skip
    print("shipped sample          ", registers(old._sample_kernel, dict(ROWS=1, G_PAD=8,
          BLOCK=2048), 4))  # fmt: skip


if __name__ == "__main__":
    main()
