"""Known-wrong paged attention: query head h reads KV head h % Hkv instead of h // group.

Both mappings agree for MHA (group 1: h // 1 = h = h % Hq) and for MQA (Hkv 1: both 0), so
only grouped-query attention with 1 < Hkv < Hq shows it (also caught by
test_gqa_equals_mha_with_repeated_kv_heads).

Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.paged_attention._variant import attention_with


@triton.jit
def _query_heads(kv_head, tile, GROUP, HKV, BLOCK_G: tl.constexpr):
    g = tile * BLOCK_G + tl.arange(0, BLOCK_G)
    return kv_head + g * HKV, g < GROUP  # BUG: the heads with h % Hkv == kv_head


paged_decode_attention = attention_with(_query_heads=_query_heads)
