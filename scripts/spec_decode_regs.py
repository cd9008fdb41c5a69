"""Registers per thread of spec_decode's Triton kernels, for each plan of
scripts/gpu_spec_sweep.py on its bench case, compiled for sm_90 (H100/H200) on a machine without
a GPU: Triton's own ptxas builds the cubin, its cuobjdump reads the resource usage. Registers
decide how many programs an SM holds at once (65536 per SM): kernel 1's B * SPLIT programs run
in one wave only if they all fit.

Usage (from the repository root; no GPU; a few seconds per plan):
    PYTHONPATH=$PWD python scripts/spec_decode_regs.py
The numbers are for the Triton that Python imports: to match the H200's Triton 3.6 here, put a
3.6 wheel's files first (`pip install --no-deps --target /tmp/t36 triton==3.6.0`, then
`PYTHONPATH=/tmp/t36:$PWD`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # compile for real, before triton is imported

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import gpu_spec_sweep as sweep  # noqa: E402

from solutions.spec_decode import triton as sol  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
INT64 = {"tok_ptr", "out_ptr", "count_ptr"}
INTS = {"B", "G", "V", "NB", "SUMS_STRIDE"}
ALIGNED = {"V", "SUMS_STRIDE"}  # the bench case's V = 128256 is a multiple of 16, as is 64
B, G, V = 128, 5, 128256  # the bench case


def registers(fn, consts: dict, warps: int) -> str:
    """'REG:n LOCAL:n smem:n' of fn compiled for sm_90 with these constexprs (Triton
    specialises pointers and multiples of 16 as aligned, as it does at launch)."""
    names = list(fn.arg_names)
    kind = {n: "*i64" if n in INT64 else "i32" if n in INTS else "*fp32" for n in names}
    sig = {n: "constexpr" if n in consts else kind[n] for n in names}
    constexprs = {(names.index(n),): v for n, v in consts.items()}
    attrs = {
        (i,): [["tt.divisibility", 16]]
        for i, n in enumerate(names)
        if n not in consts and (kind[n].startswith("*") or n in ALIGNED)
    }
    src = ASTSource(fn, sig, constexprs, attrs)
    kernel = triton.compile(src, target=TARGET, options={"num_warps": warps})
    with tempfile.NamedTemporaryFile("wb", suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        out = subprocess.run(
            [str(CUOBJDUMP), "--dump-resource-usage", f.name], capture_output=True, text=True
        ).stdout
    usage = [w for line in out.splitlines() if "REG:" in line for w in line.split()]
    regs = " ".join(w for w in usage if w.startswith(("REG:", "LOCAL:"))) or out[-200:]
    return f"{regs} smem:{kernel.metadata.shared}"  # smem: Triton's (dynamic) shared memory


def plan_line(name: str, plan: sol.Plan) -> str:
    """Kernel 1's programs and registers, then kernel 2's, as verify() would launch them."""
    nb = triton.cdiv(V, plan.block)
    per = min(nb, plan.per_program)
    split = triton.cdiv(nb, per)
    warps = plan.warps or 4
    k1 = dict(ROWS=1, G_PAD=8, BLOCK=plan.block, PER_PROGRAM=per)
    k1 |= dict(PREFETCH=plan.prefetch, STAGES=plan.stages, EVICT=plan.evict, PDL=plan.pdl)
    text = f"{name:<32} {B * split:>5} programs  k1 " + registers(sol._block_sums_kernel, k1, warps)
    k2 = dict(ROWS=1, G_PAD=8, BLOCK=plan.block, PDL=plan.pdl)
    fn, sample_warps = sol._sample_kernel, plan.sample_warps or 4
    if plan.sampler == "scan":  # NB_PAD as verify() picks it
        fn = sol._sample_scan_kernel
        k2["NB_PAD"] = max(32 * sample_warps, triton.next_power_of_2(nb))
    return text + "  k2 " + registers(fn, k2, sample_warps)


def main() -> None:
    print(f"triton {triton.__version__}, sm_90, B={B} G={G} V={V}")
    for name, plan in {"shipped": sol.PLAN, **sweep.PLANS}.items():
        try:
            print(plan_line(name, plan), flush=True)
        except Exception as e:  # noqa: BLE001 - a plan that does not compile is a finding
            print(f"{name:<32} {type(e).__name__}: {str(e).strip().splitlines()[-1][:200]}")


if __name__ == "__main__":
    main()
