"""solutions/wmma_gemm's kernels run on the host: wmma_gemm.cu's own Gemm text, compiled with g++
against CUDA stand-ins (wmma_gemm_host/cuda_on_host.h: a thread per CUDA thread, barriers,
ldmatrix and mma.sync by the PTX ISA's layouts, cp.async landing at its wait), must give the
exact product on ragged and misaligned shapes; an aligned kernel must fault on misaligned rows
and the known-wrong variants must be wrong. What this cannot show: timing, and races the host's
thread schedule does not happen to expose."""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solutions.wmma_gemm import cupy as gemm

pytestmark = pytest.mark.static
HERE = Path(__file__).with_name("wmma_gemm_host")
DEFINE = re.compile(
    r"^DEFINE_GEMM\((\w+), (\d+), (\d+), (\d+), (\d+), (\d+), (\d+), (\w+), \d+\)", re.M
)
PARAMS = ("BM_", "BN_", "BK_", "WM_", "WN_", "STAGES_", "ALIGNED_")
# (M, N, K, offset): small fixed cases of problem.toml, and more tails: K past one slice,
# M past one tile, an offset base (odd for fp16: 2 bytes off 16)
ALIGNED_CASES = [(16, 16, 16, 0), (128, 256, 64, 0), (257, 136, 24, 0), (40, 136, 200, 0)]
ANY_CASES = [(1, 1, 1, 0), (15, 17, 31, 0), (127, 128, 129, 0), (129, 257, 72, 0), (70, 33, 100, 1)]


def kernel_text(cu: str) -> str:
    """The .cu's copy_8_guarded (its st.shared asm swapped for the host's store) and everything
    from Swizzle to the end of Gemm; the helpers above are cuda_on_host.h's."""
    start = cu.index("__device__ __forceinline__ void copy_8_guarded")
    guarded = cu[start : cu.index("\n}\n", start) + 3]
    store = "st_shared_v4(dst, w[0], w[1], w[2], w[3]);\n"
    guarded = re.sub(r'asm volatile\("st\.shared.*?;\n(?=\})', store, guarded, flags=re.S)
    body = cu[cu.index("template <int COLS>\nstruct Swizzle") : cu.index("// NAME_smem_bytes")]
    smem = "extern __shared__ __align__(16) half smem[];"
    assert store in guarded and smem in body, "wmma_gemm.cu changed shape: update this cut"
    return guarded + body.replace(smem, "unsigned char* smem = SMEM;")


@functools.cache
def build(kernel: str, cu: str) -> Path:
    """The driver for one DEFINE_GEMM line of `cu` (the shipped text or a patched one)."""
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    params = {m[1]: m.groups()[1:] for m in DEFINE.finditer(cu)}
    inputs = cu + "".join(f.read_text() for f in sorted(HERE.iterdir()))  # a change rebuilds
    out = Path(tempfile.gettempdir()) / "dojo-wmma-host" / hashlib.sha1(inputs.encode()).hexdigest()
    exe = out / kernel
    if not exe.exists():  # built in a private folder, then renamed: xdist workers may race
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out))
        (tmp / "gemm.inc").write_text(kernel_text(cu))
        defs = [f"-D{p}={v}" for p, v in zip(PARAMS, params[kernel], strict=True)]
        cmd = ["g++", "-std=c++20", "-O1", "-fsanitize=address", "-pthread", *defs]
        cmd += [f"-I{tmp}", "-o", str(tmp / kernel), str(HERE / "driver.cpp")]
        subprocess.run(cmd, check=True, timeout=120)
        os.replace(tmp / kernel, exe)
        shutil.rmtree(tmp)
    return exe


def run(exe: Path, m: int, n: int, k: int, offset: int = 0, positive: bool = False):
    """(exit status, last line): 0 exact, 1 wrong values, 3 misaligned cp.async, else a crash."""
    args = [str(exe), str(m), str(n), str(k), str(offset), "0", str(int(positive))]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, (p.stdout + p.stderr).strip().splitlines()[-1]


def shipped() -> str:
    return gemm.SOURCE.text


def test_the_cut_covers_every_kernel_of_the_table():
    assert {m[1] for m in DEFINE.finditer(shipped())} == set(gemm.KERNELS)


@pytest.mark.parametrize("kernel", [n for n, t in gemm.KERNELS.items() if t.aligned])
@pytest.mark.parametrize("case", ALIGNED_CASES, ids=str)
def test_aligned_kernel_is_exact_on_aligned_shapes(kernel, case):
    assert run(build(kernel, shipped()), *case) == (0, f"0 of {case[0] * case[1]} wrong")


@pytest.mark.parametrize("case", ALIGNED_CASES + ANY_CASES, ids=str)
def test_fallback_is_exact_on_any_shape(case):
    assert run(build(gemm.ANY, shipped()), *case) == (0, f"0 of {case[0] * case[1]} wrong")


@given(
    m=st.integers(1, 80),
    n=st.integers(1, 80),
    k=st.integers(1, 80),
    offset=st.sampled_from([0, 1, 3]),
)
def test_fallback_is_exact_on_drawn_shapes(m, n, k, offset):
    assert run(build(gemm.ANY, shipped()), m, n, k, offset) == (0, f"0 of {m * n} wrong")


def test_aligned_kernel_faults_on_misaligned_rows():
    """What wrong_assumes_aligned_rows relies on: SMALL on K = 31 reads A's row 1 at byte 62."""
    status, line = run(build(gemm.SMALL, shipped()), 15, 17, 31)
    assert status == 3 and "misaligned" in line, line


@pytest.mark.parametrize(
    ("variant", "kernel", "case"),
    [
        ("wrong_drops_k_tail", gemm.ANY, (15, 17, 31)),
        ("wrong_drops_k_tail", gemm.SMALL, (40, 136, 200)),
        ("wrong_fp16_accumulator", gemm.ANY, (32, 32, 1024, 0, True)),
        ("wrong_fp16_accumulator", gemm.SMALL, (16, 16, 1024, 0, True)),
    ],
)
def test_wrong_variant_is_wrong(variant, kernel, case):
    source = importlib.import_module(f"solutions.wmma_gemm.{variant}").SOURCE
    status, line = run(build(kernel, source.text), *case)
    assert status == 1 and not line.startswith("0 of"), f"{variant} on {kernel}: {line}"
