"""`dojo new <slug> --lang L`: a new problem in the right shape. It starts as a working example
(y = 2x), so `pytest problems/<slug>` passes at once and every file shows what goes where."""

from __future__ import annotations

import re
from pathlib import Path

from grader.problem.complete import EXAMPLE_MARKER

LANGS = {"triton": "triton", "cuda": "cupy", "torch": "torch", "python": "python"}

TOML = """title = "{title}"
difficulty = "easy"
language = "{lang}"
track = "kernels"
order = 100
tags = []
entry = ["{slug}"]
signature = "{slug}(x: Tensor[N] float32) -> Tensor[N] float32"
mock_minutes = 20
questions = []
hints = [
    "Replace this example (y = 2x) with your problem's hints, easiest first.",
    "The second rung: the idea that makes it correct.",
    "The last rung: the idea that makes it fast.",
]

[needs]
correctness = "{needs}"
perf = "{perf}"

[timeouts]
check = 300
bench = 300

[random.ranges]
N = [1, 5000]

[tolerance.float32]
rtol = 1e-6
atol = 0.0

[[cases]]
N = 1

[[cases]]
N = 1023

[[cases]]
N = 1024

[[cases]]
N = 1025

[perf.{perf}]
metric = "bandwidth"
baseline = "copy"
entry = "{slug}"
bars = {{ bronze = 0.5, silver = 0.75, gold = 0.9 }}
cases = [{{ N = 67108864 }}]

# The rules (grader/harness/rules.py): list the op this problem asks for in every spelling a
# candidate could reach for, e.g. ["torch.softmax", "torch.Tensor.softmax"] (CONTRIBUTING.md,
# "The rules"); the reference and the solutions are always off limits.
[rules]
reason = "{slug} asks you to write it yourself"
forbidden = []
"""

README = """# {title}

{marker}

## Task
Write `{slug}(x)`: replace this example (y = 2x) with the statement.

## Math
y_i = 2 x_i

## Inputs and outputs
x: (N,) float32, contiguous. Returns a new (N,) float32 tensor.

## Constraints
N >= 1.

## Hints
See `dojo hint {slug}`.

## Speed of light and perf bars
Bytes moved: 8N (read x, write y). Bars: fraction of device copy bandwidth, 0.5 / 0.75 / 0.9.

## How to check
`dojo check {slug}` then `dojo bench {slug}` on a GPU.
"""

REFERENCE = '''"""Reference for {slug}: replace the example (y = 2x) with your semantics."""

from __future__ import annotations

from typing import Any

import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    return 2 * x  # read 4N bytes, write 4N


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    return {{"x": torch.randn(case["N"], generator=gen, device=gen.device)}}  # (N,)


def cost(case: dict[str, Any]) -> dict[str, float]:
    return {{"bytes": 8 * case["N"], "flops": case["N"]}}
'''

TEST = '''"""Tests for {slug}, run against any implementation via the `impl` fixture."""

from __future__ import annotations

import pytest
from hypothesis import given

from grader.harness.compare import assert_close
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from reference import {slug} as ref

SLUG = "{slug}"


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_reference_on_fixed_cases(impl, problem, runtime, case):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(0))
    assert_close(impl.{slug}(**args), ref.{slug}(**args), problem.tol("float32"))


@given(case=cases(SLUG), seed=SEEDS)
def test_matches_reference_on_random_shapes(impl, problem, runtime, case, seed):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(seed))
    assert_close(impl.{slug}(**args), ref.{slug}(**args), problem.tol("float32"))
'''

SOLUTIONS = {
    "torch": '''"""Worked solution for {slug} in PyTorch (the example: y = 2x)."""

import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    return x * 2.0  # (N,)
''',
    "python": '''"""Worked solution for {slug} in plain Python (the example: y = 2x)."""

import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor([2.0 * v for v in x.tolist()], dtype=x.dtype, device=x.device)
''',
    "triton": '''"""Worked solution for {slug} in Triton (the example: y = 2x)."""

import torch
import triton
import triton.language as tl


@triton.jit
def _{slug}_kernel(x_ptr, y_ptr, N, BLOCK: tl.constexpr):
    # Program i owns elements [i*BLOCK, (i+1)*BLOCK): reads them once, writes them once.
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    tl.store(y_ptr + offs, 2.0 * tl.load(x_ptr + offs, mask=mask), mask=mask)


def {slug}(x: torch.Tensor) -> torch.Tensor:
    y = torch.empty_like(x)  # (N,)
    grid = (triton.cdiv(x.numel(), 1024),)
    _{slug}_kernel[grid](x, y, x.numel(), BLOCK=1024)
    return y
''',
    "cupy": '''"""Worked solution for {slug} in CUDA C via CuPy (the example: y = 2x)."""

from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

SOURCE = CudaSource(Path(__file__).with_name("{slug}.cu"))


def {slug}(x: torch.Tensor) -> torch.Tensor:
    y = torch.empty_like(x)  # (N,)
    n = x.numel()
    launch(SOURCE.kernel("{slug}_kernel"), ((n + 255) // 256,), (256,), (x, y, np.int64(n)))
    return y
''',
}

CU = """// y = 2x: one thread per element (the example of a new problem).
extern "C" __global__ void {slug}_kernel(const float* __restrict__ x, float* y, long long n) {{
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i];
}}
"""

WRONG = '''"""Known-wrong {slug}: forgets the factor 2 (the grader must reject it)."""

import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    return x.clone()  # BUG
'''

WRONG_OFF_BY_ONE = '''"""Known-wrong {slug}: leaves the last element at 0 (tests reject it)."""

import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    y = 2 * x
    y[-1:] = 0  # BUG: the last element is never written
    return y
'''

ATTEMPT = '''"""Your {slug}: edit this file, then run `dojo check {slug}`."""

import torch


def {slug}(x: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError("write {slug}")
'''


def create(root: Path, slug: str, lang: str) -> list[Path]:
    """Write the problem's files; refuse bad slugs, unknown languages and existing problems."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", slug):
        raise ValueError(f"slug '{slug}' must be snake_case: letters, digits, underscores")
    if lang not in LANGS:
        raise ValueError(f"--lang must be one of {', '.join(LANGS)}, got '{lang}'")
    if (root / "problems" / slug).exists():
        raise ValueError(f"problems/{slug} already exists")
    on_cpu = lang in ("torch", "python", "triton")
    fields = {
        "slug": slug,
        "lang": lang,
        "title": slug.replace("_", " ").capitalize(),
        "needs": "cpu" if on_cpu else "gpu",
        "perf": "gpu",
        "marker": EXAMPLE_MARKER,
    }
    files = {
        f"problems/{slug}/problem.toml": TOML,
        f"problems/{slug}/README.md": README,
        f"problems/{slug}/attempt.py": ATTEMPT,
        f"problems/{slug}/test_{slug}.py": TEST,
        f"reference/{slug}.py": REFERENCE,
        f"solutions/{slug}/{LANGS[lang]}.py": SOLUTIONS[LANGS[lang]],
        f"solutions/{slug}/wrong_forgets_factor.py": WRONG,
        f"solutions/{slug}/wrong_drops_the_last_element.py": WRONG_OFF_BY_ONE,
    }
    if lang == "cuda":
        files[f"solutions/{slug}/{slug}.cu"] = CU
    written = []
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
        written.append(path)
    return written
