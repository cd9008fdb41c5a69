"""Property-based tests for fp8_quant, run against any implementation through the `impl` fixture
(`pytest problems/fp8_quant --impl attempt`, or `dojo check fp8_quant`)."""

from __future__ import annotations

import pytest
import torch
import triton
import triton.language as tl
from hypothesis import assume, given
from hypothesis import strategies as st

from grader.harness.compare import assert_close, check_like
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.registry import get_problem
from reference import fp8_quant as ref

SLUG = "fp8_quant"
PER_TOKEN_H = get_problem(SLUG).params["per_token_H"]


@triton.jit
def _interpreter_cast_kernel(v_ptr, q_ptr, n, BLOCK: tl.constexpr):
    # Only ever run in the interpreter: what its fp32 -> float8e4nv cast makes of v.
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(q_ptr + offs, tl.load(v_ptr + offs, mask=mask).to(tl.float8e4nv), mask=mask)


def _interpreter_casts(v: torch.Tensor, near_tie: torch.Tensor) -> torch.Tensor:
    """(5, T, H) float64: the interpreter's cast of v and, where v is near a rounding tie, of
    its fp32 neighbours up to 2 ulps away: there an attempt's quotient may sit on the other
    side of the tie. Elsewhere the neighbours are NaN, so they explain nothing."""
    up, down = torch.tensor(float("inf")), torch.tensor(float("-inf"))
    u1, d1 = torch.nextafter(v, up), torch.nextafter(v, down)
    near = torch.stack([v, u1, torch.nextafter(u1, up), d1, torch.nextafter(d1, down)])
    flat = near.flatten().contiguous()  # (5*T*H,) fp32
    out = torch.empty(flat.shape, dtype=ref.FP8)
    _interpreter_cast_kernel[(triton.cdiv(flat.numel(), 1024),)](
        flat, out, flat.numel(), BLOCK=1024
    )
    casts = out.double().reshape(near.shape)
    casts[1:] = torch.where(near_tie, casts[1:], float("nan"))
    return casts


def _near_a_tie(v: torch.Tensor) -> torch.Tensor:
    """(T, H) bool: v (float64) lies within ref.TIE_BAND of a midpoint between two e4m3 values."""
    table = ref.e4m3_values(v.device)
    hi = table[torch.searchsorted(table, v).clamp(max=table.numel() - 1)]
    lo = table[(torch.searchsorted(table, v, right=True) - 1).clamp(min=0)]
    mid = (lo + hi) / 2
    return (lo != hi) & ((v - mid).abs() <= ref.TIE_BAND * mid.abs())


class Unverified:
    """Codes that the Triton interpreter's own fp32 -> float8e4nv cast got wrong (it mis-rounds
    a carry into the next power of two, ties and subnormals). They are set aside so that every
    other check of every example still runs, and the test then ends as *needs GPU*: an
    interpreter defect is never a verdict, and a partly checked test is never called passed."""

    def __init__(self, runtime):
        self.runtime, self.codes, self.examples = runtime, 0, 0

    def explain(self, q, x, scales, group_size, bad, exact=False) -> torch.Tensor | None:
        """The mask of codes explained by the interpreter's cast, if it explains all of bad.
        exact: the quotients are exact (power-of-two scales), so no ulp of slack at ties."""
        if not self.runtime.interpreted:
            return None
        T, H = x.shape
        v = x.float().reshape(T, H // group_size, group_size) / scales[..., None]
        v = v.clamp(-ref.E4M3_MAX, ref.E4M3_MAX).reshape(T, H)  # (T, H) the reference's fp32
        near_tie = _near_a_tie(v.double()) & (not exact)
        casts = _interpreter_casts(v, near_tie)  # (5, T, H)
        explained = (casts == q.double()[None]).any(dim=0) & bad  # (T, H)
        if not bool(explained[bad].all()):
            return None
        self.codes, self.examples = self.codes + int(bad.sum()), self.examples + 1
        return explained

    def report(self) -> None:
        if self.codes:
            pytest.skip(
                f"needs GPU: {self.codes} codes in {self.examples} example(s) are what "
                "the Triton interpreter's fp32 -> float8e4nv cast produces (a known "
                "interpreter defect); every other check passed, those codes are checked "
                "on a GPU"
            )


def check_quant(impl, hooks, unverified: Unverified, x: torch.Tensor, group_size: int):
    """quant_fp8 against the reference: scales within two fp32 ulps, codes exact except for one
    step at rounding ties. Returns (q, scales), q with any codes set aside by `unverified`
    replaced by the reference's, so that later checks of the same example can go on."""
    got = impl.quant_fp8(x, group_size)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise AssertionError(f"quant_fp8 must return (q, scales), got {type(got).__name__}")
    q, scales = got
    want_q, want_scales = ref.quant_fp8(x, group_size)
    hooks.check_scales(scales, want_scales)
    check_like(q, want_q, "q")
    bad = hooks.code_mismatches(q, want_q, x, want_scales, group_size)
    if bool(bad.any()):
        explained = unverified.explain(q, x, want_scales, group_size, bad)
        if explained is None:
            raise AssertionError(hooks.mismatch_report(q, want_q, x, want_scales, group_size, bad))
        q = torch.where(explained, want_q.view(torch.uint8), q.view(torch.uint8)).view(ref.FP8)
    return q, scales


# Tests that draw examples with hypothesis run them inside the test (`example()`), so that
# codes set aside as interpreter defects are reported once, after every example has run.


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_reference_on_fixed_cases(hooks, impl, problem, runtime, case):
    runtime.require_trusted(case)
    unverified = Unverified(runtime)
    check_quant(impl, hooks, unverified, **ref.make_inputs(case, runtime.gen(0)))
    unverified.report()


def test_matches_reference_on_random_shapes(hooks, impl, problem, runtime):
    unverified = Unverified(runtime)

    @given(case=cases(SLUG), seed=SEEDS)
    def example(case, seed):
        assume(runtime.trusted(case))
        check_quant(impl, hooks, unverified, **ref.make_inputs(case, runtime.gen(seed)))

    example()
    unverified.report()


def test_per_token_groups_match_reference(hooks, impl, problem, runtime):
    """group_size == H: one scale per token, any H (not only powers of two)."""
    unverified = Unverified(runtime)

    @given(
        T=st.integers(1, 4),
        H=st.integers(*PER_TOKEN_H),
        dtype=st.sampled_from(["float32", "float16"]),
        seed=SEEDS,
    )
    def example(T, H, dtype, seed):
        case = {"T": T, "H": H, "group": H, "dtype": dtype}
        check_quant(impl, hooks, unverified, **ref.make_inputs(case, runtime.gen(seed)))

    example()
    unverified.report()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("k", [-8, 0, 5])
def test_exact_ties_round_half_to_even(hooks, impl, problem, runtime, dtype, k):
    """Every midpoint between neighbouring e4m3 values, in groups whose amax is 448 * 2^k: the
    scale is exactly 2^k, x/scale is exact, every tie is a true tie and must go to the code
    with an even mantissa. Exact e4m3 values ride along and must come back unchanged."""
    table = ref.e4m3_values(runtime.device)  # (253,) float64
    mids = (table[1:] + table[:-1]) / 2  # (252,) 5 significant bits: exact in fp32 and fp16
    body = torch.cat([mids, table, torch.zeros(3, dtype=table.dtype, device=table.device)])
    body = body.reshape(-1, 127)  # (4, 127) 508 values in four groups
    amax = torch.full((body.shape[0], 1), ref.E4M3_MAX, dtype=table.dtype, device=table.device)
    x = (torch.cat([amax, body], dim=1) * 2.0**k).reshape(1, -1).to(getattr(torch, dtype))
    got = impl.quant_fp8(x, 128)
    want, scales = ref.quant_fp8(x, 128)
    hooks.check_scales(got[1], scales)  # exactly 2^k
    check_like(got[0], want, "q")
    bad = got[0].double() != want.double()  # no tie allowance here: these ties are exact
    unverified = Unverified(runtime)
    if bool(bad.any()) and unverified.explain(got[0], x, scales, 128, bad, exact=True) is None:
        raise AssertionError(
            hooks.mismatch_report(got[0], want, x, scales, 128, bad)
            + "\n  (exact ties must round half to even)"
        )
    unverified.report()


def test_each_group_amax_maps_to_plus_or_minus_448(hooks, impl, problem, runtime):
    """x / scale is +-448 (up to an ulp, then clamped) exactly where |x| is the group's amax."""
    unverified = Unverified(runtime)

    @given(
        case=cases(SLUG, values=st.sampled_from(["normal", "boundary", "spread", "outliers"])),
        seed=SEEDS,
    )
    def example(case, seed):
        assume(runtime.trusted(case))
        x, g = ref.make_inputs(case, runtime.gen(seed)).values()
        q, _ = check_quant(impl, hooks, unverified, x, g)
        T, H = x.shape
        xg, qg = x.double().reshape(T, H // g, g), q.double().reshape(T, H // g, g)  # (T, G, g)
        amax = xg.abs().amax(dim=-1, keepdim=True)  # (T, G, 1)
        at_max = (xg.abs() == amax) & (amax > ref.SCALE_FLOOR)
        bad = at_max & (qg != ref.E4M3_MAX * xg.sign())
        assert not bool(bad.any()), (
            f"{int(bad.sum())} of {int(at_max.sum())} group-amax "
            f"elements did not quantise to +-448; e.g. got "
            f"{float(qg[bad][0]):g} for x = {float(xg[bad][0]):g}"
        )

    example()
    unverified.report()


def test_zero_groups_give_zero_codes_and_the_floor_scale(hooks, impl, problem, runtime):
    """An all-zero group: scale = 1e-10/448 (not 0), codes 0 (not NaN); its neighbours normal."""
    unverified = Unverified(runtime)

    @given(
        T=st.integers(1, 4),
        G=st.integers(1, 6),
        group=st.sampled_from([128, 32, 48]),
        dtype=st.sampled_from(["float32", "float16"]),
        seed=SEEDS,
    )
    def example(T, G, group, dtype, seed):
        gen = runtime.gen(seed)
        x = torch.randn(T, G, group, generator=gen, device=runtime.device)  # (T, G, group)
        zero = torch.rand(T, G, generator=gen, device=runtime.device) < 0.5  # (T, G)
        zero[0, 0] = True
        x = torch.where(zero[..., None], 0.0, x).reshape(T, G * group).to(getattr(torch, dtype))
        q, scales = impl.quant_fp8(x, group)
        check_like(scales, ref.quant_fp8(x, group)[1], "scales")
        assert not bool(scales.isnan().any() or q.float().isnan().any()), "NaN in q or scales"
        codes = q.float().reshape(T, G, group)[zero]  # (zero groups, group)
        assert bool((codes == 0).all()), f"zero groups must give code 0, got {codes.unique()}"
        check_quant(impl, hooks, unverified, x, group)  # the floor scale, the other groups

    example()
    unverified.report()


def test_round_trip_is_within_half_a_code_step(hooks, impl, problem, runtime):
    """|dequant(q) - x| <= half the gap between the e4m3 values around x/scale, times scale:
    what rounding to nearest promises, checked with the implementation's own scales."""
    unverified = Unverified(runtime)

    @given(case=cases(SLUG), seed=SEEDS)
    def example(case, seed):
        assume(runtime.trusted(case))
        x, g = ref.make_inputs(case, runtime.gen(seed)).values()
        q, scales = check_quant(impl, hooks, unverified, x, g)
        y = impl.dequant_fp8(q, scales, g)
        check_like(y, x.float(), "dequant_fp8(q, scales)")
        v = ref.quotients(x, scales, g)  # (T, H) float64, clamped
        table = ref.e4m3_values(x.device)
        hi = table[torch.searchsorted(table, v).clamp(max=table.numel() - 1)]
        lo = table[(torch.searchsorted(table, v, right=True) - 1).clamp(min=0)]
        s = scales.double().repeat_interleave(g, dim=1)  # (T, H)
        err = (y.double() - x.double()).abs() / s  # in code units of the group
        bound = (hi - lo) / 2 + ref.TIE_BAND * v.abs()  # the band allows fp32 noise in x/scale
        bad = ~(err <= bound)
        if bool(bad.any()):
            t, h = (int(i) for i in bad.nonzero()[0])
            raise AssertionError(
                f"{int(bad.sum())} of {bad.numel()} elements round-trip beyond "
                f"half a code step; at ({t}, {h}): x = {float(x[t, h]):.9g}, "
                f"dequant = {float(y[t, h]):.9g}, error {float(err[t, h]):.4g} "
                f"codes, allowed {float(bound[t, h]):.4g}"
            )

    example()
    unverified.report()


@given(
    T=st.integers(1, 6), G=st.integers(1, 4), group=st.sampled_from([128, 32, 48, 1]), seed=SEEDS
)
def test_dequant_matches_reference_on_random_codes(impl, problem, runtime, T, G, group, seed):
    """Every finite code, scales from 1e-6 to 1e3: q * scale in fp32."""
    gen, dev = runtime.gen(seed), runtime.device
    codes = torch.randint(0, 256, (T, G * group), generator=gen, device=dev).to(torch.uint8)
    codes = torch.where((codes & 0x7F) == 0x7F, 0, codes)  # 0x7F and 0xFF are NaN: not codes
    q = codes.view(ref.FP8)  # (T, H)
    scales = 10.0 ** torch.empty(T, G, device=dev).uniform_(-6, 3, generator=gen)  # (T, G)
    assert_close(
        impl.dequant_fp8(q, scales, group),
        ref.dequant_fp8(q, scales, group),
        problem.tol("float32"),
        name="dequant_fp8(q, scales)",
    )


def test_groups_are_quantised_independently(hooks, impl, problem, runtime):
    """Scaling one group changes that group's scale only: nothing else may move."""
    unverified = Unverified(runtime)

    @given(
        case=cases(SLUG, dtype="float32", values=st.sampled_from(["normal", "spread"])),
        seed=SEEDS,
        which=st.integers(0, 10**6),
        factor=st.sampled_from([1e-3, 7.0, 1e3]),
    )
    def example(case, seed, which, factor):
        x, g = ref.make_inputs(case, runtime.gen(seed)).values()
        T, G = x.shape[0], x.shape[1] // g
        assume(T * G >= 2)
        q1, s1 = check_quant(impl, hooks, unverified, x, g)
        t, j = divmod(which % (T * G), G)
        x2 = x.clone()
        x2[t, j * g : (j + 1) * g] *= factor
        q2, s2 = check_quant(impl, hooks, unverified, x2, g)
        keep = torch.ones(T, G, dtype=torch.bool, device=x.device)
        keep[t, j] = False
        moved = ((s1 != s2) | (q1.double() != q2.double()).reshape(T, G, g).any(-1)) & keep
        assert not bool(moved.any()), (
            f"scaling group ({t}, {j}) by {factor:g} changed the "
            f"scales or codes of {int(moved.sum())} other groups"
        )

    example()
    unverified.report()


def test_scaling_x_by_a_power_of_two_scales_only_the_scales(hooks, impl, problem, runtime):
    """x * 2^k is exact, and so are max(amax * 2^k, 1e-10) / 448 = scale * 2^k and the
    quotients: the codes must not change and the scales must scale by exactly 2^k."""
    unverified = Unverified(runtime)

    @given(
        case=cases(
            SLUG, dtype="float32", values=st.sampled_from(["normal", "boundary", "outliers"])
        ),
        seed=SEEDS,
        k=st.integers(-12, 20),
    )
    def example(case, seed, k):
        x, g = ref.make_inputs(case, runtime.gen(seed)).values()
        T, H = x.shape
        assume(float(x.abs().reshape(T, H // g, g).amax(-1).min()) * 2.0**k > 1e-6)
        q1, s1 = check_quant(impl, hooks, unverified, x, g)
        q2, s2 = check_quant(impl, hooks, unverified, x * 2.0**k, g)
        assert_close(
            s2, s1 * 2.0**k, problem.tol("float32"), name="scales(x * 2^k) vs scales * 2^k"
        )
        bad = hooks.code_mismatches(q2, q1, x * 2.0**k, s2, g)
        if bool(bad.any()):
            raise AssertionError(
                hooks.mismatch_report(q2, q1, x * 2.0**k, s2, g, bad)
                + f"\n  (codes of x * 2^{k} vs codes of x)"
            )

    example()
    unverified.report()
