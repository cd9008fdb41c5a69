"""smem_transpose's hooks: the shared-memory bank simulator for the layout contract (TILE,
SMEM_WORDS, smem_offset), its one-line report for `dojo check` and `dojo show`, the exact
bit-level comparison, and the tier cap for a layout with bank conflicts."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from grader.harness.compare import assert_equal
from grader.harness.hooks import Hooks
from grader.problem.spec import Perf

BANKS = 32  # 4-byte banks; bank = word offset mod 32
TILE = 32  # the contract's tile edge: one warp (32 lanes) covers one tile row or column
MAX_WORDS = 32 * 33  # one pad word per row is the most a layout may spend


@dataclass(frozen=True, slots=True)
class BankReport:
    """What the simulator found for one layout. Conflicts are extra wavefronts, as the hardware
    counts them: an access whose busiest bank holds k distinct words costs k - 1 extra."""

    smem_words: int
    error: str | None  # the first broken layout rule; None for a valid layout
    stores: tuple[int, ...]  # extra wavefronts of the row-wise store of tile row 0..31
    loads: tuple[int, ...]  # extra wavefronts of the column-wise load of tile column 0..31

    @property
    def store(self) -> int:
        return sum(self.stores)

    @property
    def load(self) -> int:
        return sum(self.loads)

    @property
    def total(self) -> int:
        return self.store + self.load

    @property
    def ok(self) -> bool:
        """A valid layout with zero conflicts: what smem_transpose requires."""
        return self.error is None and self.total == 0

    def summary(self) -> str:
        counts = f"store {self.store} / load {self.load} bank conflicts per tile"
        if self.error is not None:
            tail = f"; {counts}" if self.stores else ""
            return f"smem layout: INVALID ({self.error}){tail}"
        worst = _worst(self.loads, "column") or _worst(self.stores, "row")
        return f"smem layout: injective, {self.smem_words} words, {counts}" + (
            f" (worst: {worst})" if worst else ""
        )


def warp_conflicts(offsets: Sequence[int], banks: int = BANKS) -> int:
    """Extra wavefronts of one warp-wide 4-byte access: the most distinct words any one bank must
    serve, minus 1. Lanes reading the same word share it (a broadcast), which costs nothing."""
    words_in_bank: dict[int, set[int]] = {}
    for w in offsets:
        words_in_bank.setdefault(w % banks, set()).add(w)
    return max((len(ws) for ws in words_in_bank.values()), default=1) - 1


# The access pattern the kernel is held to (README "Constraints"): a (32, 8) thread block moves
# one 32 x 32 tile; warp w stores tile rows w, w+8, w+16, w+24 with lane l at column l, and after
# the barrier loads tile columns w, w+8, w+16, w+24 with lane l at row l. Over the 8 warps that is
# every row once (32 row stores) and every column once (32 column loads) per tile.
def simulate(
    smem_offset: Callable[[int, int], int], tile: int = TILE, smem_words: int = MAX_WORDS
) -> BankReport:
    """Check the layout rules, then count the conflicts of one tile's 32 row stores and 32
    column loads. Whatever smem_offset raises (NotImplementedError for a stub) propagates."""
    error = _size_error(tile, smem_words)
    if error is not None:
        return BankReport(_as_int(smem_words), error, (), ())
    table, error = _offsets(smem_offset, smem_words)
    if table is None:
        return BankReport(smem_words, error, (), ())
    stores = tuple(warp_conflicts(table[r]) for r in range(TILE))  # lane i stores (r, i)
    loads = tuple(warp_conflicts([table[i][c] for i in range(TILE)]) for c in range(TILE))
    return BankReport(smem_words, error, stores, loads)


def _size_error(tile: Any, smem_words: Any) -> str | None:
    if tile != TILE:
        return f"TILE is {tile!r}; the contract fixes a {TILE} x {TILE} tile"
    # Fewer than 32 * 32 words is allowed here: the overlap check then names two elements that
    # share a word, which says more than a size complaint.
    if _as_int(smem_words) is None or not 0 < smem_words <= MAX_WORDS:
        return (
            f"SMEM_WORDS is {smem_words!r}; it must be a positive int of at most {MAX_WORDS} "
            "(the tile plus one pad word per row)"
        )
    return None


def _offsets(
    smem_offset: Callable[[int, int], int], smem_words: int
) -> tuple[list[list[int]] | None, str | None]:
    """The 32 x 32 table of word offsets (None if one is not an int) and the first rule it
    breaks: an offset out of range, or two elements in one word."""
    table, owner, error = [], {}, None
    for r in range(TILE):
        row = []
        for c in range(TILE):
            raw = smem_offset(r, c)
            w = _as_int(raw)
            if w is None:
                return None, f"smem_offset({r}, {c}) returned {raw!r}, not an int"
            if error is None and not 0 <= w < smem_words:
                error = f"smem_offset({r}, {c}) = {w} is outside 0 <= offset < {smem_words}"
            if error is None and w in owner:
                error = f"not injective: tile elements {owner[w]} and {(r, c)} share word {w}"
            owner.setdefault(w, (r, c))
            row.append(w)
        table.append(row)
    return table, error


def _as_int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    try:
        return operator.index(x)  # ints and numpy integers; not floats
    except TypeError:
        return None


def _worst(counts: tuple[int, ...], what: str) -> str | None:
    if not counts or max(counts) == 0:
        return None
    i = max(range(len(counts)), key=counts.__getitem__)
    return f"{what} {i} costs {counts[i] + 1} wavefronts instead of 1"


def simulate_module(module: Any) -> BankReport:
    """simulate() on a module's exported TILE, SMEM_WORDS and smem_offset; AttributeError with
    the missing names when it exports none of the layout contract."""
    missing = [n for n in ("TILE", "SMEM_WORDS", "smem_offset") if not hasattr(module, n)]
    if missing:
        raise AttributeError(
            f"the module exports no {', '.join(missing)}: smem_transpose "
            "implementations export TILE = 32, SMEM_WORDS and "
            "smem_offset(row, col), the layout their kernel uses"
        )
    return simulate(module.smem_offset, module.TILE, module.SMEM_WORDS)


def report(module: Any) -> str:
    """One line for `dojo check` / `dojo show`, e.g. 'smem layout: injective, 1056 words,
    store 0 / load 0 bank conflicts per tile'. Never raises for a broken attempt."""
    try:
        return simulate_module(module).summary()
    except NotImplementedError:
        return "smem layout: not written yet (smem_offset raises NotImplementedError)"
    except AttributeError as e:
        return f"smem layout: {e}"
    except Exception as e:  # noqa: BLE001 - the attempt's own error, reported in one line
        return f"smem layout: cannot evaluate ({type(e).__name__}: {e})"


class SmemTransposeHooks(Hooks):
    def compare(self, got: Any, expected: torch.Tensor, inputs: dict[str, Any]) -> None:
        """Exact: same values (NaN matches NaN), then the same bits (-0.0 vs 0.0, NaN payloads),
        in a contiguous (N, M) tensor."""
        assert_equal(got, expected, "transpose")
        if not got.is_contiguous():
            raise AssertionError(
                f"transpose must return a contiguous (N, M) tensor, got strides "
                f"{got.stride()} (expected {expected.stride()})"
            )
        assert_equal(got.view(torch.int32), expected.view(torch.int32), "transpose (bit patterns)")

    def bench_extra(self, module: Any, perf: Perf) -> dict[str, Any]:
        """The simulator's verdict on the module's layout; a layout with bank conflicts (or none
        at all) reaches no tier, since the problem asks for a conflict-free tile."""
        try:
            sim = simulate_module(module)
        except Exception:  # noqa: BLE001 - no or broken layout: the report line says which
            return {"smem_layout": report(module), "tier_cap": None}
        return {
            "smem_layout": sim.summary(),
            "bank_conflicts": {"store": sim.store, "load": sim.load},
            "tier_cap": "none" if sim.ok else None,
        }

    def notes(self, module: Any) -> list[str]:
        return [report(module)]

    simulate_module = staticmethod(simulate_module)
    report = staticmethod(report)


HOOKS = SmemTransposeHooks
