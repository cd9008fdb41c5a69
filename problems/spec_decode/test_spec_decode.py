"""Tests for spec_decode (verify, verify_greedy), run against any implementation through the
`impl` fixture (`pytest problems/spec_decode --impl attempt`).

Exact tests use distributions on a 2^-24 grid summing to exactly 1 (reference.to_grid): every
partial sum is then exact in fp32 in any order, so the contract's inverse CDF has one answer and
any correct implementation matches the reference token for token. Dense, unrounded softmax rows
are tested statistically (chi-square and z tests at ALPHA per test, fixed seeds, so each test is
deterministic) and by a float64 inverse-CDF check with a rounding slack."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given

from grader.harness.compare import assert_equal, check_like
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from reference import spec_decode as ref

SLUG = "spec_decode"
ALPHA = 1e-4  # false-alarm rate of each statistical test: the chance a correct verify fails it
Z_CRIT = 3.8906  # two-sided normal quantile for ALPHA
HALF_BELOW = 0.5 - 2.0**-25  # the largest float32 below 0.5
ONE_BELOW = 1.0 - 2.0**-24  # the largest float32 below 1


def _check(impl, args, greedy=False):
    entry, expected_fn = (
        (impl.verify_greedy, ref.verify_greedy) if greedy else (impl.verify, ref.verify)
    )
    got = entry(**args)
    expected = expected_fn(**args)
    name = "verify_greedy" if greedy else "verify"
    _assert_pair(got, name)
    assert_equal(got[1], expected[1], name=f"{name} counts (accepted + 1)")
    assert_equal(got[0], expected[0], name=f"{name} tokens (left-aligned, -1 padded)")
    return got


def _assert_pair(got, name: str) -> None:
    kind = type(got).__name__ + (f" of {len(got)}" if isinstance(got, (tuple, list)) else "")
    ok = isinstance(got, tuple) and len(got) == 2
    assert ok, f"{name} must return a tuple (tokens, counts); it returned a {kind}"


def _verified(impl, args):
    """impl.verify(**args), its outputs checked (a tuple, shapes, dtypes) before a statistical
    test computes with them: a wrong shape fails here, not as an IndexError of the test."""
    got = impl.verify(**args)
    _assert_pair(got, "verify")
    drafts = args["draft_tokens"]  # (B, G)
    B, G = drafts.shape
    check_like(got[0], drafts.new_empty(B, G + 1), "verify tokens")  # (B, G+1) int64
    check_like(got[1], drafts.new_empty(B), "verify counts")  # (B,) int64
    return got


def _chi2(observed: torch.Tensor, probs: torch.Tensor) -> tuple[float, int, float]:
    """Pearson chi-square of counts against probs: (statistic, dof, p-value). The tail is the
    regularised upper incomplete gamma Q(dof/2, stat/2) (torch.special.gammaincc), no scipy.
    A sample outside the support of probs gives p-value 0."""
    observed, probs = observed.double().cpu(), probs.double().cpu()
    expected = probs * observed.sum()
    inside = expected > 0
    if bool((observed[~inside] > 0).any()):
        return math.inf, int(inside.sum()) - 1, 0.0
    stat = float(((observed - expected)[inside] ** 2 / expected[inside]).sum())
    dof = int(inside.sum()) - 1
    tail = torch.special.gammaincc(
        torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(stat / 2, dtype=torch.float64)
    )
    return stat, dof, float(tail)


def _assert_follows(tokens: torch.Tensor, probs: torch.Tensor, what: str) -> None:
    V = probs.numel()
    assert tokens.numel() > 0, f"{what}: no samples to test (no row reached this case)"
    assert bool(((tokens >= 0) & (tokens < V)).all()), f"{what}: tokens outside [0, {V})"
    observed = torch.bincount(tokens.cpu(), minlength=V)
    stat, dof, pvalue = _chi2(observed, probs)
    if pvalue <= ALPHA:
        n = int(observed.sum())
        worst = (observed - probs.cpu().double() * n).abs() / (probs.cpu().double() * n + 1)
        j = int(worst.argmax())
        raise AssertionError(
            f"{what}: chi-square {stat:.1f} on {dof} dof, p-value {pvalue:.2e} <= {ALPHA:g} "
            f"over {n} samples; worst token {j}: seen {int(observed[j])}, expected "
            f"{float(probs[j]) * n:.1f}"
        )


def _dense(V: int, seed: int, spread: float = 1.5) -> torch.Tensor:
    z = torch.randn(V, generator=torch.Generator().manual_seed(seed))
    return torch.softmax(spread * z, dim=0)  # (V,) fp32, not on the grid: realistic rows


def _batch(ps, qs, N, runtime, seed, drafts=None):
    """N identical rows: target rows ps (G+1 of them), draft rows qs (G), drafts drawn from q."""
    dev, gen = runtime.device, runtime.gen(seed)
    target = torch.stack(ps).to(dev).expand(N, -1, -1).contiguous()  # (N, G+1, V)
    draft = torch.stack(qs).to(dev).expand(N, -1, -1).contiguous()  # (N, G, V)
    G, V = draft.shape[1], draft.shape[2]
    if drafts is None:
        drafts = torch.multinomial(draft.view(N * G, V), 1, replacement=True, generator=gen).view(
            N, G
        )
    return {
        "draft_tokens": drafts,
        "draft_probs": draft,
        "target_probs": target,
        "accept_u": torch.rand(N, G, generator=gen, device=dev),
        "sample_u": torch.rand(N, generator=gen, device=dev),
    }


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_verify_matches_reference_on_fixed_cases(impl, runtime, case):
    _check(impl, ref.make_inputs(case, runtime.gen(0)))


@given(case=cases(SLUG), seed=SEEDS)
def test_verify_matches_reference_on_random_cases(impl, runtime, case, seed):
    args = ref.make_inputs(case, runtime.gen(seed))
    tokens, counts = _check(impl, args)
    G = args["draft_tokens"].shape[1]
    for b, n in enumerate(counts.tolist()):  # the layout, stated directly
        row, drafts = tokens[b].tolist(), args["draft_tokens"][b].tolist()
        assert row[: n - 1] == drafts[: n - 1] and row[n:] == [-1] * (G + 1 - n), (
            f"row {b}: tokens {row} with count {n}: expected the first {n - 1} drafts of "
            f"{drafts}, one sampled token, then -1"
        )


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_verify_greedy_matches_reference_on_fixed_cases(impl, runtime, case):
    _check(impl, ref.make_greedy_inputs(case, runtime.gen(0)), greedy=True)


@given(case=cases(SLUG), seed=SEEDS)
def test_verify_greedy_matches_reference_on_random_cases(impl, runtime, case, seed):
    _check(impl, ref.make_greedy_inputs(case, runtime.gen(seed)), greedy=True)


def test_verify_greedy_breaks_argmax_ties_toward_the_lowest_index(impl, runtime):
    row = [1.0, 3.0, 3.0, 0.0]  # argmax 1 (first of the tied 3.0s)
    logits = torch.tensor([[row, row]] * 3, device=runtime.device)  # (B=3, G+1=2, V=4)
    drafts = torch.tensor([[1], [2], [3]], device=runtime.device)  # tied-first, tied-second, no
    tokens, counts = impl.verify_greedy(drafts, logits)
    assert tokens.tolist() == [[1, 1], [1, -1], [1, -1]] and counts.tolist() == [2, 1, 1], (
        f"argmax of {row} is 1 (first maximum): got tokens {tokens.tolist()}, counts "
        f"{counts.tolist()}, expected [[1, 1], [1, -1], [1, -1]], [2, 1, 1]"
    )


def test_accepts_only_while_u_times_q_is_strictly_below_p(impl, runtime):
    """Boundary uniforms: u*q == p rejects; one float below accepts; p = q = 0 rejects even at
    u = 0 (a token the target never emits); u just below 1 with p == q accepts."""
    p0 = [0.25, 0.25, 0.5, 0.0]  # target at position 0
    q0 = [0.5, 0.25, 0.25, 0.0]  # draft at position 0: residual max(0, p - q) = [0, 0, .25, 0]
    p1 = [0.0, 0.0, 0.0, 1.0]  # the bonus distribution: always token 3
    rows = [
        (0, 0.5, [2, -1], 1),  # 0.5 * 0.5 == 0.25: reject, resample the residual -> 2
        (0, HALF_BELOW, [0, 3], 2),  # just below: accept, then the bonus 3
        (3, 0.0, [2, -1], 1),  # 0 * 0 < 0 is false: reject
        (1, ONE_BELOW, [1, 3], 2),
    ]  # p == q at x: accepts for every u < 1
    dev = runtime.device
    args = {
        "draft_tokens": torch.tensor([[r[0]] for r in rows], device=dev),
        "draft_probs": torch.tensor([[q0]] * 4, device=dev),
        "target_probs": torch.tensor([[p0, p1]] * 4, device=dev),
        "accept_u": torch.tensor([[r[1]] for r in rows], device=dev),
        "sample_u": torch.full((4,), 0.5, device=dev),
    }
    tokens, counts = _check(impl, args)
    assert tokens.tolist() == [r[2] for r in rows] and counts.tolist() == [r[3] for r in rows]


@pytest.mark.parametrize("V, at", [(6, (1, 3, 4)), (3 * 2048 + 5, (2049, 4095, 4096))])
def test_inverse_cdf_takes_the_first_index_whose_cumsum_exceeds_u_times_total(impl, runtime, V, at):
    """p has mass .25, .25, .5 at the indices `at`, 0 elsewhere. V = 6: cdf(p) = [0, .25, .25,
    .5, 1, 1]. V = 6149: the mass starts past a whole zero block of 2048 and the cdf reaches .5
    at the very end of the second, so a kernel summing the row block by block (any power of two
    up to 4096) meets u * total == a block's running sum. u = 0 must skip the zero-mass tokens;
    u*total equal to a cdf value moves past it (strict >); the residual path scales by its own
    total (0.5)."""
    dev = runtime.device
    p = torch.zeros(V)  # (V,)
    p[list(at)] = torch.tensor([0.25, 0.25, 0.5])
    q_reject = p / 2  # residual p / 2 (total .5); the other half of q where p = 0
    q_reject[0] = q_reject[V - 1] = 0.25
    us = [0.0, 0.2, 0.25, 0.3, 0.5, 0.75, ONE_BELOW]
    expected = [at[i] for i in (0, 0, 1, 1, 2, 2, 2)]  # p: thresholds 0, .2, .25, .3, .5, .75, ~1
    B = len(us)  # the residual's thresholds are half those, against its total .5: same tokens
    for q, x, n in ((p, at[2], 2), (q_reject, 0, 1)):
        args = {
            "draft_tokens": torch.full((B, 1), x, device=dev),
            "draft_probs": q.to(dev).expand(B, 1, V).contiguous(),
            "target_probs": p.to(dev).expand(B, 2, V).contiguous(),
            "accept_u": torch.full((B, 1), 0.5, device=dev),
            "sample_u": torch.tensor(us, device=dev),
        }
        tokens, counts = _check(impl, args)
        got = tokens[:, n - 1].tolist()
        assert got == expected, f"sample_u {us}: sampled {got}, expected {expected}"


@pytest.mark.parametrize("V", [1, 5, 64])
def test_zero_residual_mass_samples_from_the_target(impl, runtime, V):
    """p == q and a drafted token with p = q = 0: rejected, the residual is all zero, so the
    emitted token is the inverse-CDF sample of p itself. (V = 1: token 0 keeps all the mass,
    so it is accepted and the bonus is token 0.)"""
    gen, dev, B = runtime.gen(V), runtime.device, 16
    p = ref.to_grid(torch.softmax(torch.randn(V, generator=gen, device=dev), 0))  # (V,)
    p[0] = 0.0  # token 0: zero probability under both models
    p = ref.to_grid(p)  # back to a sum of exactly 1
    args = {
        "draft_tokens": torch.zeros(B, 1, dtype=torch.int64, device=dev),
        "draft_probs": p.expand(B, 1, V).contiguous(),
        "target_probs": p.expand(B, 2, V).contiguous(),
        "accept_u": torch.rand(B, 1, generator=gen, device=dev),
        "sample_u": torch.rand(B, generator=gen, device=dev),
    }
    _check(impl, args)


@pytest.mark.parametrize("V, G", [(10, 3), (300, 2)])
def test_p_equal_to_q_always_accepts(impl, runtime, V, G):
    ps = [_dense(V, 10 + i) for i in range(G + 1)]
    args = _batch(ps, ps[:G], 2000, runtime, seed=V)
    args["accept_u"][:, 0] = ONE_BELOW  # the largest uniform: still u * q < q
    _, counts = _verified(impl, args)
    rejected = int((counts != G + 1).sum())
    assert rejected == 0, f"p == q: {rejected} of 2000 rows rejected a draft (all must accept)"


def test_zero_draft_probability_where_target_is_positive_never_rejects(impl, runtime):
    V, G, N = 12, 2, 500
    p = _dense(V, 3)
    q = p.clone()
    q[:4] = 0.0  # the draft never proposes tokens 0..3; the target gives them mass
    q /= q.sum()
    drafts = torch.randint(0, 4, (N, G), generator=runtime.gen(4), device=runtime.device)
    args = _batch([p] * (G + 1), [q] * G, N, runtime, seed=5, drafts=drafts)
    args["accept_u"][: N // 2] = ONE_BELOW
    _, counts = _verified(impl, args)
    rejected = int((counts != G + 1).sum())
    assert rejected == 0, f"q(x) = 0 < p(x): {rejected} of {N} rows rejected (0 * u < p always)"


def _pair(V, seed, drift=None):
    """A target row p and a draft row q: unrelated, or p's logits plus noise of size drift."""
    if drift is None:
        return _dense(V, seed), _dense(V, seed + 1000)
    z = torch.randn(2, V, generator=torch.Generator().manual_seed(seed))
    return torch.softmax(1.5 * z[0], 0), torch.softmax(1.5 * z[0] + drift * z[1], 0)


def test_first_emitted_token_follows_the_target_distribution(impl, runtime):
    """Accepted draft or resample, the first token is distributed exactly as p_0."""
    p, q = _pair(12, 21)
    args = _batch([p, _dense(12, 22), _dense(12, 23)], [q, _dense(12, 24)], 30000, runtime, 6)
    tokens, _ = _verified(impl, args)
    _assert_follows(tokens[:, 0], p, "first emitted token vs p_0")


def test_token_after_a_rejection_follows_the_residual_distribution(impl, runtime):
    p, q = _pair(12, 31)
    args = _batch([p, _dense(12, 32)], [q], 30000, runtime, 7)
    tokens, counts = _verified(impl, args)
    residual = (p - q).clamp(min=0)
    _assert_follows(
        tokens[counts == 1, 0],
        residual / residual.sum(),
        "token emitted at a rejection vs norm(max(0, p - q))",
    )


def test_bonus_token_follows_the_last_target_distribution(impl, runtime):
    p0, q0 = _pair(12, 41)
    p1 = _dense(12, 42)
    args = _batch([p0, p1], [q0], 30000, runtime, 8)
    tokens, counts = _verified(impl, args)
    _assert_follows(tokens[counts == 2, 1], p1, "bonus token after all drafts accepted vs p_G")


def test_mean_accepted_count_matches_sum_of_min_p_q(impl, runtime):
    """Position i is reached with probability prod_{m<i} alpha_m, alpha = sum_x min(p, q):
    a z-test of the mean accepted count against that exact expectation and variance."""
    G, N, V = 3, 10000, 40
    pairs = [_pair(V, 50 + i, drift=0.2 + 0.4 * i) for i in range(G)]  # alphas 0.9 down
    alphas = [float(torch.minimum(p, q).double().sum()) for p, q in pairs]
    reach = [math.prod(alphas[:i]) for i in range(G + 1)]  # P(accepted >= i)
    law = [reach[a] - (reach[a + 1] if a < G else 0.0) for a in range(G + 1)]  # P(accepted = a)
    mean = sum(a * w for a, w in enumerate(law))
    std = math.sqrt(sum((a - mean) ** 2 * w for a, w in enumerate(law)) / N)
    args = _batch([p for p, _ in pairs] + [_dense(V, 60)], [q for _, q in pairs], N, runtime, 9)
    _, counts = _verified(impl, args)
    got = float((counts - 1).double().mean())
    z = (got - mean) / std
    assert abs(z) < Z_CRIT, (
        f"mean accepted {got:.4f}, expected {mean:.4f} from alphas "
        f"{[round(a, 4) for a in alphas]} (z = {z:.2f}, limit {Z_CRIT})"
    )


@pytest.mark.parametrize("V, seed", [(97, 1), (1000, 2)])
def test_dense_rows_sample_within_rounding_of_the_float64_inverse_cdf(impl, runtime, V, seed):
    """Unrounded softmax rows: acceptance is one product and compare, so counts must match the
    reference exactly; the sampled token may move only where cumsum rounding (summation order)
    can move it: its float64 cdf interval must touch u * total within V * 2^-23 * total."""
    B, G, dev = 64, 2, runtime.device
    gen = runtime.gen(seed)
    logits = 2 * torch.randn(B, G + 1, V, generator=gen, device=dev)  # (B, G+1, V)
    draft_logits = logits[:, :G] + 0.7 * torch.randn(B, G, V, generator=gen, device=dev)
    draft = torch.softmax(draft_logits, dim=-1)  # (B, G, V) dense, unrounded
    args = {
        "draft_tokens": torch.multinomial(draft.view(B * G, V), 1, generator=gen).view(B, G),
        "draft_probs": draft,
        "target_probs": torch.softmax(logits, dim=-1),
        "accept_u": torch.rand(B, G, generator=gen, device=dev),
        "sample_u": torch.rand(B, generator=gen, device=dev),
    }
    tokens, counts = _verified(impl, args)
    assert_equal(counts, ref.verify(**args)[1], name="verify counts on dense rows")
    for b, n in enumerate(counts.tolist()):
        p = args["target_probs"][b, n - 1].double().cpu()
        w = p if n == G + 1 else (p - args["draft_probs"][b, n - 1].double().cpu()).clamp(min=0)
        cdf = torch.cumsum(w, 0)
        j, thr, slack = (
            int(tokens[b, n - 1]),
            float(args["sample_u"][b]) * float(cdf[-1]),
            V * 2.0**-23 * float(cdf[-1]),
        )
        below = float(cdf[j - 1]) if j > 0 else 0.0
        assert 0 <= j < V and w[j] > 0 and below <= thr + slack and float(cdf[j]) > thr - slack, (
            f"row {b}: token {j} has cdf interval ({below:.9g}, {float(cdf[j]):.9g}], "
            f"u * total = {thr:.9g} (slack {slack:.2g}, mass {float(w[j]) if 0 <= j < V else 0})"
        )
