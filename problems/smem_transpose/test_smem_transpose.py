"""Tests for smem_transpose: the exported layout in the bank simulator and the PTX (CPU,
static), and the transpose bit for bit plus the kernel's own smem_offset (GPU). The simulator
itself is tested in tests/test_banks.py."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given

from grader.harness import ptx
from grader.harness.checked import ImplError, run_in_worker
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.registry import get_problem
from grader.runtime.errors import NotAttempted
from reference import smem_transpose as ref

SLUG = "smem_transpose"
RULES = get_problem(SLUG).static


# The implementation's layout and PTX (static: CPU, no GPU needed).


def simulate(hooks, impl):
    try:
        return hooks.simulate_module(impl.module)
    except AttributeError as e:
        raise AssertionError(str(e)) from None
    except NotAttempted:
        raise
    except NotImplementedError:
        raise NotAttempted(
            "smem_offset still raises NotImplementedError: write it in "
            "attempt.py (and the same formula in attempt.cu)"
        ) from None


@pytest.mark.static
def test_layout_is_injective_within_smem_words(hooks, impl):
    sim = simulate(hooks, impl)
    assert sim.error is None, sim.summary()


@pytest.mark.static
def test_layout_has_no_bank_conflicts_in_the_simulator(hooks, impl, record_property):
    """Zero conflicts is a correctness rule here: the problem asks for a conflict-free tile."""
    sim = simulate(hooks, impl)
    record_property("dojo_note", sim.summary())  # shown by `dojo check` whatever the verdict
    assert sim.total == 0, (
        f"{sim.total} bank conflicts per tile: extra wavefronts per row store"
        f" {list(sim.stores)}, per column load {list(sim.loads)}"
    )


@pytest.mark.static
@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_ptx_follows_static_rule(impl, rule):
    ptx.check_rule(ptx.source_of(impl), rule)


# The transpose itself (GPU).


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_reference_exactly_on_fixed_cases(hooks, impl, problem, runtime, case):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(0))
    hooks.compare(impl.transpose(**args), ref.transpose(**args), args)


@given(case=cases(SLUG), seed=SEEDS)
def test_matches_reference_exactly_on_random_shapes(hooks, impl, problem, runtime, case, seed):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(seed))
    hooks.compare(impl.transpose(**args), ref.transpose(**args), args)


@given(case=cases(SLUG, values="index"), seed=SEEDS)
def test_transposing_twice_gives_back_x(hooks, impl, problem, runtime, case, seed):
    runtime.require()
    x = ref.make_inputs(case, runtime.gen(seed))["x"]  # (M, N)
    hooks.compare(impl.transpose(impl.transpose(x)), x, {"x": x})


@pytest.mark.parametrize("view", ["transposed", "column_slice"])
def test_non_contiguous_input_is_rejected_or_transposed_correctly(
    hooks, impl, problem, runtime, view
):
    """The contract asks for a contiguous x; a kernel that assumes it must not read a strided
    view as if it were one. Raising is fine; returning a wrong answer is not."""
    runtime.require()
    base = ref.make_inputs({"M": 70, "N": 45, "values": "index"}, runtime.gen(0))["x"]
    x = base.t() if view == "transposed" else base[:, 3:40]  # (45, 70) or (70, 37), strided
    try:
        got = impl.transpose(x)
    except ImplError:
        return
    hooks.compare(got, ref.transpose(x), {"x": x})


PROBE = """
extern "C" __global__ void dojo_layout_probe(int* out) {
    out[threadIdx.y * 32 + threadIdx.x] = smem_offset(threadIdx.y, threadIdx.x);
#ifdef SMEM_WORDS
    if (threadIdx.x == 0 && threadIdx.y == 0) out[1024] = SMEM_WORDS;
#endif
}
"""


@functools.cache
def _probe(source):
    return source.with_extra(PROBE)  # compiled once per implementation, then reused


def _run_layout_probe(module) -> list[int]:
    """Runs in the worker: the .cu's smem_offset for every tile element, and its SMEM_WORDS."""
    from grader.runtime.cuda import launch

    out = torch.full((1025,), -1, dtype=torch.int32, device="cuda")  # 32*32 offsets + SMEM_WORDS
    launch(_probe(module.SOURCE).kernel("dojo_layout_probe"), (1,), (32, 32), (out,))
    return out.cpu().tolist()


def test_kernel_uses_the_exported_smem_offset(impl, runtime):
    """The .cu's __device__ smem_offset(row, col) and SMEM_WORDS, evaluated on the GPU for
    every tile element, equal the Python layout the simulator judged."""
    runtime.require()
    ptx.source_of(impl)  # skips for an implementation that is not CUDA C
    got = run_in_worker(impl, _run_layout_probe)
    want = [impl.module.smem_offset(r, c) for r in range(32) for c in range(32)]
    wrong = [(i // 32, i % 32, got[i], want[i]) for i in range(1024) if got[i] != want[i]]
    assert not wrong, (
        f"{len(wrong)} of 1024 tile elements: the .cu's smem_offset differs from "
        "the Python one; first (row, col, .cu, .py): " + str(wrong[:4])
    )
    assert got[1024] in (-1, impl.module.SMEM_WORDS), (
        f"the .cu was compiled with SMEM_WORDS={got[1024]}, the module says "
        f"{impl.module.SMEM_WORDS}"
    )
