"""online_softmax's split kernel in the Triton interpreter (on a GPU where there is one), its
workspace pre-filled with every chunk's packed (max, sum): no program waits, so what is checked
is the indexing, the packing, the merge and the scaling (the waiting: tests/gpu/)."""

from __future__ import annotations

import torch
import triton
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.compare import assert_close
from grader.harness.hooks import hooks_for
from grader.problem.registry import get_problem
from reference import online_softmax as ref
from solutions.online_softmax import triton as sol
from solutions.online_softmax import wrong_stale_running_sum

HOOKS = hooks_for(get_problem("online_softmax"))
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
VALUES = ["normal", "wide", "large", "near_1e4", "offset", "neginf", "neginf_prefix", "all_neginf"]


def published_pairs(x: torch.Tensor, block: int) -> torch.Tensor:
    """What the chunks publish, modelled in torch: (max, sum of exp(x - shift)) packed as int64."""
    M, N = x.shape
    C = triton.cdiv(N, block)
    pad = torch.nn.functional.pad(x.float(), (0, C * block - N), value=float("-inf"))  # (M, C*B)
    chunks = pad.view(M, C, block)  # (M, C, B)
    m = chunks.amax(dim=-1)  # (M, C)
    shift = torch.where(m == float("-inf"), 0.0, m)  # (M, C)
    s = torch.exp(chunks - shift[..., None]).sum(dim=-1)  # (M, C)
    return (m.view(torch.int32).long() << 32) | (s.view(torch.int32).long() & 0xFFFFFFFF)


def split_softmax(x: torch.Tensor, block: int, rescale=sol._rescaled):
    """The split kernel alone, launched as solution._split does, with the pairs already there."""
    M, N = x.shape
    C = triton.cdiv(N, block)
    pairs = published_pairs(x, block).flatten()
    sync = torch.cat([torch.zeros(1, dtype=torch.int64, device=x.device), pairs])
    out = torch.empty((M, N), dtype=x.dtype, device=x.device)  # (M, N)
    meta = dict(BLOCK=block, CHUNKS_POW2=triton.next_power_of_2(C), EVICT="", num_warps=4)
    steps = dict(SHIFT=sol._finite_or_zero, RESCALE=rescale, DIVIDE=sol._divide)
    strides = (x.stride(0), out.stride(0))
    sol._softmax_split_kernel[(M * C,)](x, out, sync, N, C, *strides, **meta, **steps, TICKET=True)
    assert int(sync[0]) == M * C, "every program takes exactly one ticket"
    return out.cpu()


@given(
    M=st.integers(1, 3),
    N=st.integers(1, 3000),
    block=st.sampled_from([128, 512, 1024]),
    dtype=st.sampled_from(["float32", "float16"]),
    values=st.sampled_from(VALUES),
    pad=st.integers(0, 40),
    seed=st.integers(0, 2**16),
)
def test_split_kernel_merges_published_pairs_into_the_softmax(
    M, N, block, dtype, values, pad, seed
):
    gen = torch.Generator().manual_seed(seed)
    x = ref.make_inputs({"M": M, "N": N, "dtype": dtype, "values": values}, gen)["x"]  # (M, N)
    wide = torch.zeros(M, N + pad, dtype=x.dtype, device=DEVICE)  # (M, N + pad): strided rows
    wide[:, :N] = x.to(DEVICE)
    got = split_softmax(wide[:, :N], block)
    assert_close(got, ref.softmax(x), HOOKS.tolerance(x.dtype, N), name="split softmax(x)")


def test_the_merge_uses_the_rescale_step():
    """wrong_stale_running_sum's step, passed to the split kernel, gives a wrong softmax when
    chunk maxes differ: the kernel merges through RESCALE, so that variant stays rejected."""
    x = torch.randn(2, 1000)  # (M, N)
    x[:, -1] = 30.0  # the row max in the last chunk
    ok = split_softmax(x.to(DEVICE), 256)
    bad = split_softmax(x.to(DEVICE), 256, rescale=wrong_stale_running_sum._not_rescaled)
    tol = HOOKS.tolerance(x.dtype, 1000)
    assert_close(ok, ref.softmax(x), tol, name="split softmax(x)")
    assert not torch.allclose(bad, ok, rtol=1e-3), "an unrescaled merge should be wrong"
