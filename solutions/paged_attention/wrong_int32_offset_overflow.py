"""Known-wrong paged attention: the element offset page * page_stride is computed in int32.

Right for every pool of up to 2^31 elements; past that (4.3 GB of bf16 at S=16, Hkv=8, D=128,
an ordinary KV cache on an 80 GB GPU) the offset wraps negative and the kernel reads outside
the pool. Only a GPU holds such a pool in a test: rejected there by
test_pools_over_2_to_the_31_elements_need_64_bit_offsets, where the wrapped offset reads
before the pool and the kernel faults (an H200 run: illegal memory access, verdict crashed);
on a CPU every check passes and problem.toml lists it under [params] wrong_on_gpu_only.

Rejected by: test_pools_over_2_to_the_31_elements_need_64_bit_offsets (GPU, crashed)
"""

import triton
import triton.language as tl

from solutions.paged_attention._variant import attention_with


@triton.jit
def _token_rows(table_row_ptr, tok, valid, page_stride, slot_stride, S: tl.constexpr):
    page = tl.load(table_row_ptr + tok // S, mask=valid, other=0)  # BUG: stays int32
    return page * page_stride + (tok % S) * slot_stride


paged_decode_attention = attention_with(_token_rows=_token_rows)
