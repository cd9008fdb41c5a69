"""smem_transpose's shared-memory bank simulator (problems/smem_transpose/hooks.py), checked on
layouts whose conflict counts are known by hand."""

from __future__ import annotations

import inspect
import math
from types import SimpleNamespace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grader.harness.hooks import hooks_for
from grader.problem.registry import get_problem

banks = inspect.getmodule(type(hooks_for(get_problem("smem_transpose"))))

CELLS = st.tuples(st.integers(0, 31), st.integers(0, 31))  # a (row, col) of the tile


def unpadded(r: int, c: int) -> int:
    return r * 32 + c


def padded(r: int, c: int) -> int:
    return r * 33 + c


def xor_swizzled(r: int, c: int) -> int:
    return r * 32 + (c ^ r)


# The simulator, checked on layouts whose conflicts are known by hand.


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
    assert "\n" not in banks.report(SimpleNamespace(TILE=32, SMEM_WORDS=1056, smem_offset=padded))


# The implementation's layout and PTX (static: CPU, no GPU needed).
