"""Tests for smem_transpose: the bank simulator itself, the exported layout and the PTX (CPU,
static), and the transpose bit for bit plus the kernel's own smem_offset (GPU)."""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from grader import banks, ptx
from grader.checked import ImplError
from grader.impls import NotAttempted
from grader.registry import get_problem
from grader.strategies import SEEDS, case_id, cases, fixed_cases
from reference import smem_transpose as ref

SLUG = "smem_transpose"
RULES = get_problem(SLUG).static
CELLS = st.tuples(st.integers(0, 31), st.integers(0, 31))  # a (row, col) of the tile


def unpadded(r: int, c: int) -> int:
    return r * 32 + c


def padded(r: int, c: int) -> int:
    return r * 33 + c


def xor_swizzled(r: int, c: int) -> int:
    return r * 32 + (c ^ r)


# The simulator (grader/banks.py), checked on layouts whose conflicts are known by hand.


@pytest.mark.static
def test_simulator_counts_31_extra_wavefronts_per_column_load_of_an_unpadded_tile():
    sim = banks.simulate(unpadded, 32, 1024)
    assert sim.error is None and sim.stores == (0,) * 32 and sim.loads == (31,) * 32, (
        f"{sim.summary()}: stores {sim.stores}, loads {sim.loads}"
    )


@pytest.mark.static
def test_simulator_puts_a_column_major_tiles_conflicts_on_the_row_stores():
    sim = banks.simulate(lambda r, c: c * 32 + r, 32, 1024)
    assert (sim.store, sim.load, sim.total) == (992, 0, 992), sim.summary()


@pytest.mark.static
@pytest.mark.parametrize(
    "layout, words", [(padded, 1056), (xor_swizzled, 1024)], ids=["padded", "xor_swizzled"]
)
def test_simulator_finds_no_conflicts_in_padded_and_swizzled_tiles(layout, words):
    sim = banks.simulate(layout, 32, words)
    assert sim.ok, sim.summary()


@pytest.mark.static
@given(stride=st.integers(1, 300), col=st.integers(0, 31))
def test_simulator_charges_gcd_minus_one_for_a_strided_column(stride, col):
    """Lane l reading word l*stride + col: gcd(stride, 32) lanes share each bank used."""
    offsets = [lane * stride + col for lane in range(32)]
    assert banks.warp_conflicts(offsets) == math.gcd(stride, 32) - 1


@pytest.mark.static
@given(words=st.lists(st.integers(0, 3000), min_size=1, max_size=32))
def test_simulator_counts_distinct_words_per_bank_and_broadcasts_for_free(words):
    busiest = max(len({w for w in words if w % 32 == b}) for b in range(32))
    assert banks.warp_conflicts(words) == busiest - 1
    assert banks.warp_conflicts(words + words) == busiest - 1  # same word twice: a broadcast


@pytest.mark.static
@given(perm=st.permutations(range(1056)))
def test_simulator_accepts_any_permutation_layout_as_injective(perm):
    sim = banks.simulate(lambda r, c: perm[r * 32 + c], 32, 1056)
    assert sim.error is None, sim.summary()
    assert len(sim.stores) == len(sim.loads) == 32
    assert all(0 <= k <= 31 for k in sim.stores + sim.loads), sim.summary()


@pytest.mark.static
@given(a=CELLS, b=CELLS)
def test_simulator_reports_two_elements_sharing_a_word(a, b):
    assume(a != b)
    sim = banks.simulate(lambda r, c: padded(*a) if (r, c) == b else padded(r, c), 32, 1056)
    assert sim.error is not None and "not injective" in sim.error, sim.summary()
    assert str(a) in sim.error and str(b) in sim.error, sim.error


@pytest.mark.static
def test_simulator_rejects_out_of_range_offsets_and_sizes():
    assert "outside" in banks.simulate(padded, 32, 1024).error  # padding needs 1056 words
    assert "SMEM_WORDS" in banks.simulate(padded, 32, 33 * 33).error  # over 32 * 33
    assert "TILE" in banks.simulate(padded, 16, 1056).error
    assert "not an int" in banks.simulate(lambda r, c: r * 33.0 + c, 32, 1056).error


@pytest.mark.static
def test_report_is_one_line_with_the_conflict_counts():
    bad = SimpleNamespace(TILE=32, SMEM_WORDS=1024, smem_offset=unpadded)
    assert "store 0 / load 992 bank conflicts" in banks.report(bad)
    assert "exports no smem_offset" in banks.report(SimpleNamespace(TILE=32, SMEM_WORDS=1056))

    def stub(r: int, c: int) -> int:
        raise NotImplementedError

    assert "not written yet" in banks.report(
        SimpleNamespace(TILE=32, SMEM_WORDS=1056, smem_offset=stub)
    )
    assert "\n" not in banks.report(ref)


# The implementation's layout and PTX (static: CPU, no GPU needed).


def simulate(impl) -> banks.BankReport:
    try:
        return banks.simulate_module(impl.module)
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
def test_layout_is_injective_within_smem_words(impl):
    sim = simulate(impl)
    assert sim.error is None, sim.summary()


@pytest.mark.static
def test_layout_has_no_bank_conflicts_in_the_simulator(impl):
    """Zero conflicts is a correctness rule here: the problem asks for a conflict-free tile."""
    sim = simulate(impl)
    assert sim.total == 0, (
        f"{sim.summary()}; extra wavefronts per row store {list(sim.stores)},"
        f" per column load {list(sim.loads)}"
    )


@pytest.mark.static
@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_ptx_follows_static_rule(impl, rule):
    ptx.check_rule(ptx.source_of(impl.module), rule)


# The transpose itself (GPU).


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_reference_exactly_on_fixed_cases(impl, problem, runtime, case):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(0))
    ref.compare(impl.transpose(**args), ref.transpose(**args), args, problem)


@given(case=cases(SLUG), seed=SEEDS)
def test_matches_reference_exactly_on_random_shapes(impl, problem, runtime, case, seed):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(seed))
    ref.compare(impl.transpose(**args), ref.transpose(**args), args, problem)


@given(case=cases(SLUG, values="index"), seed=SEEDS)
def test_transposing_twice_gives_back_x(impl, problem, runtime, case, seed):
    runtime.require()
    x = ref.make_inputs(case, runtime.gen(seed))["x"]  # (M, N)
    ref.compare(impl.transpose(impl.transpose(x)), x, {"x": x}, problem)


@pytest.mark.parametrize("view", ["transposed", "column_slice"])
def test_non_contiguous_input_is_rejected_or_transposed_correctly(impl, problem, runtime, view):
    """The contract asks for a contiguous x; a kernel that assumes it must not read a strided
    view as if it were one. Raising is fine; returning a wrong answer is not."""
    runtime.require()
    base = ref.make_inputs({"M": 70, "N": 45, "values": "index"}, runtime.gen(0))["x"]
    x = base.t() if view == "transposed" else base[:, 3:40]  # (45, 70) or (70, 37), strided
    try:
        got = impl.transpose(x)
    except ImplError:
        return
    ref.compare(got, ref.transpose(x), {"x": x}, problem)


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


def test_kernel_uses_the_exported_smem_offset(impl, runtime):
    """The .cu's __device__ smem_offset(row, col) and SMEM_WORDS, evaluated on the GPU for
    every tile element, equal the Python layout the simulator judged."""
    runtime.require()
    from grader.cuda import launch

    probe = _probe(ptx.source_of(impl.module))
    out = torch.full((1025,), -1, dtype=torch.int32, device="cuda")  # 32*32 offsets + SMEM_WORDS
    launch(probe.kernel("dojo_layout_probe"), (1,), (32, 32), (out,))
    got = out.cpu().tolist()
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
