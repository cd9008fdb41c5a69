"""Your paged decode attention in Triton. Edit this file, then run `dojo check paged_attention`
(CPU: the Triton interpreter) and, on a GPU, `dojo bench paged_attention`. The statement is in
README.md."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _paged_attention_kernel(q_ptr, k_ptr, v_ptr, tables_ptr, lens_ptr, out_ptr, scale,
                            HQ, GROUP, table_stride, page_stride, slot_stride, head_stride,
                            S: tl.constexpr, D: tl.constexpr, BLOCK_N: tl.constexpr):
    # Start simple: program (b, h) owns query head h of sequence b, reads KV head h // GROUP.
    # 1. load q[b, h, :] (D,), upcast to fp32
    # 2. for each tile of BLOCK_N tokens t < seq_lens[b]: page = block_tables[b, t // S],
    #    slot = t % S; load K and V rows (mask t >= seq_len); scores = K @ q * scale
    # 3. online softmax: running max m, running sum l, running acc; rescale by exp(m_old - m_new)
    # 4. store acc / l in the output dtype
    # Faster later: one program per KV head for its whole query group; split long sequences.
    pass


def paged_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    # Allocate the output (B, Hq, D) in q's dtype, launch the kernel, return the output.
    raise NotImplementedError("write _paged_attention_kernel and launch it from paged_decode_attention")
