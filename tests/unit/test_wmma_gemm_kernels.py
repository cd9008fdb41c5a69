"""solutions/wmma_gemm without a GPU: every kernel its launcher can pick compiles (nvcc, ptxas)
with the launch bounds and shared memory its table launches it with and no register spills; the
known-wrong variants' patches still find their text and plant their bug in every kernel; the
shared-memory swizzle (compiled from wmma_gemm.cu's own text with g++) is a conflict-free
permutation."""

from __future__ import annotations

import functools
import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.harness.ptx import ARCH, compile_ptx, function_body
from grader.runtime.paths import ROOT
from solutions.wmma_gemm import cupy as gemm

pytestmark = pytest.mark.static
SWIZZLE_COLS = (32, 64, 128, 256)  # halves per row: BK = 32, 64 and BN = 128, 256
ROWS = 64


@functools.cache
def ptx() -> str:
    return compile_ptx(gemm.SOURCE)


def test_every_kernel_in_the_table_is_compiled_with_its_launch_bounds():
    found = {
        m[1]: (int(m[2]), int(m[3]))
        for m in re.finditer(
            r"\.entry (\w+)\(.*?\.maxntid (\d+), 1, 1\s+\.minnctapersm (\d+)", ptx(), re.S
        )
    }
    smem = {m[1]: int(m[2]) for m in re.finditer(r"\.u32 (\w+)_smem_bytes = (\d+);", ptx())}
    assert set(found) == set(gemm.KERNELS), "wmma_gemm.cu's kernels and cupy.KERNELS differ"
    for name, tile in gemm.KERNELS.items():
        assert found[name] == (tile.threads, tile.ctas_per_sm), f"{name}: (threads, CTAs/SM)"
        assert smem[name] == tile.smem_bytes, f"{name}: launched with the wrong shared memory"


def test_no_kernel_spills_registers(tmp_path: Path):
    assert_no_spills(ptx(), tmp_path)


# What a patched variant's bug changes in each kernel's PTX, counted: the fp16 -> fp32
# conversions of the rounded running sums (the shipped kernels have none), and the `+ BK - 1` of
# the rounded-up slice count (gone when the count rounds down).
PATCHED = {
    "wrong_fp16_accumulator": lambda body, tile: body.count("cvt.f32.f16"),
    "wrong_drops_k_tail": lambda body, tile: len(
        re.findall(rf"add\.s32\s+%r\d+, %r\d+, {tile.bk - 1};", body)
    ),
}


@pytest.mark.parametrize("variant", sorted(PATCHED))
def test_wrong_variant_patches_every_kernel_and_compiles(variant, tmp_path: Path):
    """The variant's patches find their text (CudaSource raises otherwise), the result compiles
    without spills, and every kernel the launcher can pick carries the bug, so the fixed cases
    (SMALL and the fallback on a 132-SM GPU) reach it."""
    source = importlib.import_module(f"solutions.wmma_gemm.{variant}").SOURCE
    assert source.patches, f"{variant} plants no patch"
    text, count = compile_ptx(source), PATCHED[variant]
    for name, tile in gemm.KERNELS.items():
        shipped, wrong = function_body(ptx(), name), function_body(text, name)
        assert count(wrong, tile) != count(shipped, tile), f"{variant}: {name} lacks the bug"
    assert_no_spills(text, tmp_path)


def test_every_patched_wrong_variant_is_checked_here():
    patched = {
        p.stem
        for p in (ROOT / "solutions" / "wmma_gemm").glob("wrong_*.py")
        if ".patched(" in p.read_text()
    }
    assert patched == set(PATCHED), "a patched wrong variant without its PTX check here"


def assert_no_spills(ptx_text: str, tmp_path: Path) -> None:
    """ptxas -v of the PTX: every kernel of KERNELS is built, without stack or spills, and its
    registers fit its threads times its CTAs per SM."""
    if shutil.which("ptxas") is None:
        pytest.skip("needs ptxas (the CUDA toolkit)")
    src = tmp_path / "wmma_gemm.ptx"
    src.write_text(ptx_text)
    cmd = ["ptxas", f"-arch={ARCH}", "-v", str(src), "-o", str(tmp_path / "out.cubin")]
    log = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stderr
    stats = {
        m[1]: (int(m[2]), int(m[3]), int(m[4]))
        for m in re.finditer(
            r"entry function '(\w+)'.*?(\d+) bytes stack frame, (\d+) bytes spill stores.*?"
            r"Used (\d+) registers",
            log,
            re.S,
        )
    }
    assert set(stats) == set(gemm.KERNELS)
    for name, (stack, spills, regs) in stats.items():
        tile = gemm.KERNELS[name]
        assert stack == spills == 0, f"{name}: {stack} bytes of stack, {spills} spilled"
        assert regs * tile.threads * tile.ctas_per_sm <= 65536, f"{name}: {regs} registers"


@functools.cache
def swizzle_table(tmp: str) -> dict[int, list[list[int]]]:
    """Swizzle<COLS>::at(r, c) for every COLS in SWIZZLE_COLS, r < ROWS, c < COLS / 8: the
    struct's text cut from wmma_gemm.cu and compiled for the host."""
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    text = gemm.SOURCE.path.read_text()
    start = text.index("template <int COLS>\nstruct Swizzle")
    struct = text[start : text.index("\n};\n", start) + 4]
    main = "\n".join(
        f"for (int r = 0; r < {ROWS}; ++r) for (int c = 0; c < {cols // 8}; ++c) "
        f'printf("{cols} %d %d %d\\n", r, c, Swizzle<{cols}>::at(r, c));'
        for cols in SWIZZLE_COLS
    )
    cpp = Path(tmp) / "swizzle.cpp"
    cpp.write_text(
        "#include <cstdio>\n#define __device__\n#define __forceinline__ inline\n"
        f"{struct}\nint main() {{\n{main}\n}}\n"
    )
    exe = Path(tmp) / "swizzle"
    subprocess.run(["g++", "-std=c++17", "-o", str(exe), str(cpp)], check=True, timeout=60)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    table = {cols: [[0] * (cols // 8) for _ in range(ROWS)] for cols in SWIZZLE_COLS}
    for line in out.splitlines():
        cols, r, c, at = map(int, line.split())
        table[cols][r][c] = at
    return table


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> dict[int, list[list[int]]]:
    return swizzle_table(str(tmp_path_factory.mktemp("swizzle")))


def slot(offset_halves: int) -> int:
    """Which 16-byte slot of a 128-byte (32-bank) line a chunk at this offset occupies."""
    return offset_halves * 2 // 16 % 8


@pytest.mark.parametrize("cols", SWIZZLE_COLS)
def test_swizzle_is_a_permutation_of_the_tiles_chunks(table, cols):
    offsets = sorted(at for row in table[cols] for at in row)
    assert offsets == list(range(0, ROWS * cols, 8)), f"COLS={cols}: chunks overlap or gap"


@pytest.mark.parametrize("cols", SWIZZLE_COLS)
def test_ldmatrix_phases_and_line_stores_are_conflict_free(table, cols):
    """ldmatrix: 8 lanes give 8 consecutive rows at one chunk column; cp.async: 8 threads store
    8 consecutive chunks of the row-major tile. Both must touch 8 different slots."""
    rows, ch = table[cols], cols // 8
    for r0 in range(0, ROWS, 8):
        for c in range(ch):
            slots = {slot(rows[r0 + i][c]) for i in range(8)}
            assert len(slots) == 8, f"COLS={cols}: ldmatrix at rows {r0}-{r0 + 7}, chunk {c}"
    chunks = [rows[n // ch][n % ch] for n in range(ROWS * ch)]
    for n0 in range(0, len(chunks), 8):
        assert len({slot(at) for at in chunks[n0 : n0 + 8]}) == 8, f"COLS={cols}: store {n0}"


@pytest.mark.parametrize("cols", SWIZZLE_COLS)
def test_swizzle_repeats_every_period_rows(table, cols):
    """at(r0 + r, c) == r0 * COLS + at(r, c) for r0 % PERIOD == 0: what lets the kernel add warp,
    fragment and copy offsets instead of swizzling each address."""
    period = 16 if cols == 32 else 8
    rows = table[cols]
    for r0 in range(period, ROWS - period + 1, period):
        for r in range(period):
            for c in range(cols // 8):
                assert rows[r0 + r][c] == r0 * cols + rows[r][c], f"COLS={cols} r={r0 + r} c={c}"
