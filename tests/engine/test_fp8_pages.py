"""The paged-attention solution reading the engine's FP8 KV pages in place (e4m3 codes and one
scale per cached head vector): equal to the problem's reference over the dequantised pool, and
the engine's decode steps through it equal to its gather + SDPA path. Triton's interpreter here;
the same kernels run on the GPU (scripts/gpu_engine.sh)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import LLM, SamplingParams
from engine.ops import load_kernels
from grader.harness.hooks import hooks_for
from grader.problem.registry import get_problem
from grader.runtime.device import enable_interpreter_if_no_gpu, interpreting

enable_interpreter_if_no_gpu()

from reference.fp8_quant import dequant_fp8, quant_fp8  # noqa: E402
from reference.paged_attention import paged_decode_attention  # noqa: E402
from solutions.paged_attention.triton import paged_decode_attention_fp8  # noqa: E402

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
UNTRUSTED = set(get_problem("paged_attention").untrusted_in_interpreter)
HERE = sorted(set(DTYPES) - UNTRUSTED) if interpreting() else sorted(DTYPES)  # bf16: GPU only
KERNEL = ("paged_decode_attention", "paged_decode_attention_fp8")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _fp8_pool(P: int, S: int, Hkv: int, D: int, g: torch.Generator):
    """A pool of codes (P, S, Hkv, D) uint8 and scales (P, S, Hkv, 1) whose head vectors span
    six orders of magnitude: a kernel that drops or misplaces a scale is far off."""
    x = torch.randn(P * S * Hkv, D, generator=g)
    x *= 10.0 ** torch.randint(-3, 3, (P * S * Hkv, 1), generator=g)
    codes, scales = quant_fp8(x, D)  # (P*S*Hkv, D) e4m3, (P*S*Hkv, 1)
    return codes.view(torch.uint8).view(P, S, Hkv, D), scales.view(P, S, Hkv, 1)


def _dequantised(codes, scales, dtype):
    """What the engine's gather path attends over: code * scale in fp32, rounded to q's dtype."""
    P, S, Hkv, D = codes.shape
    flat = dequant_fp8(codes.view(torch.float8_e4m3fn).view(-1, D), scales.view(-1, 1), D)
    return flat.view(P, S, Hkv, D).to(dtype)


@settings(max_examples=10, deadline=None)
@given(
    dtype=st.sampled_from(HERE),
    B=st.integers(1, 3),
    Hkv=st.sampled_from([1, 2]),
    group=st.sampled_from([1, 4]),
    D=st.sampled_from([16, 64]),
    S=st.sampled_from([1, 16]),
    long=st.booleans(),  # past the interpreter's 256-token tile: the split + combine path
    seed=st.integers(0, 2**31),
)
def test_the_kernel_reads_fp8_pages_as_the_reference_reads_them_dequantised(
    dtype, B, Hkv, group, D, S, long, seed
):
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(1, 600 if long else 40, (B,), generator=g, dtype=torch.int32)  # (B,)
    width = -(-int(lens.max()) // S)
    P = B * width + 3  # spare pages nobody reads
    tables = torch.randperm(P, generator=g)[: B * width].view(B, width).to(torch.int32)
    kc, ks = _fp8_pool(P, S, Hkv, D, g)
    vc, vs = _fp8_pool(P, S, Hkv, D, g)
    q = torch.randn(B, Hkv * group, D, generator=g).to(DTYPES[dtype])  # (B, Hq, D)
    on = [t.to(DEVICE) for t in (q, kc, vc, ks, vs, tables, lens)]
    got = paged_decode_attention_fp8(*on, D**-0.5).cpu()
    k, v = _dequantised(kc, ks, q.dtype), _dequantised(vc, vs, q.dtype)
    want = paged_decode_attention(q, k, v, tables, lens, D**-0.5)
    args = dict(q=q, k_cache=k, v_cache=v, block_tables=tables, seq_lens=lens, scale=D**-0.5)
    hooks_for(get_problem("paged_attention")).compare(got, want, args)


def test_a_pool_that_is_not_fp8_codes_is_refused():
    q = torch.randn(1, 2, 16)
    k = torch.zeros(2, 4, 2, 16)  # float32 pages, not uint8 codes
    scales = torch.ones(2, 4, 2, 1)
    tables, lens = torch.zeros(1, 1, dtype=torch.int32), torch.ones(1, dtype=torch.int32)
    with pytest.raises(AssertionError):
        paged_decode_attention_fp8(q, k, k, scales, scales, tables, lens, 0.25)


@pytest.fixture(scope="module")
def qwen3(tiny_dirs):
    return str(tiny_dirs["qwen3"])


@pytest.mark.parametrize("kv_cache_dtype", ["auto", "fp8"])
def test_engine_decode_through_the_kernel_equals_gather_and_sdpa(qwen3, kv_cache_dtype):
    """The same model and cache, decode attention by the paged kernel (asked for by name: on a
    CPU the default is gather + SDPA) or by SDPA (the kernel unbound, on a GPU too): the same
    greedy tokens, and the kernel ran (eagerly: a CUDA graph replays it without a Python call)."""
    kw = dict(dtype="float32", block_size=4, kv_cache_dtype=kv_cache_dtype)
    kernel = LLM(qwen3, kernels={"paged_attention": "solution"}, enforce_eager=True, **kw)
    sdpa = LLM(qwen3, kernels=replace(load_kernels("auto", DEVICE), **dict.fromkeys(KERNEL)), **kw)
    entry = "paged_decode_attention_fp8" if kv_cache_dtype == "fp8" else "paged_decode_attention"
    calls = []
    fn = getattr(kernel.kernels, entry)
    assert fn is not None and sdpa.kernels.paged_decode_attention is None
    object.__setattr__(kernel.kernels, entry, lambda *a: calls.append(1) or fn(*a))
    prompts = [[5, 6, 7], list(range(20, 40)), [100, 7, 100, 7, 100], [3] * 9]
    params = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
    want, got = (
        [o.outputs[0].token_ids for o in llm.generate(prompts, params, use_tqdm=False)]
        for llm in (sdpa, kernel)
    )
    assert got == want and len(calls) >= 7 * kernel.model_config.num_layers, len(calls)
