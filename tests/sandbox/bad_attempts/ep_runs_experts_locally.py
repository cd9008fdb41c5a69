"""Cheat at ep_all_to_all: every rank runs every expert its tokens were routed to, locally,
without any all-to-all. The harness answers expert_fn and sees experts run off their owner."""

from reference.ep_all_to_all import ep_moe as _local


def ep_moe(x, ids, weights, expert_fn, num_experts, group=None):
    return _local(x, ids, weights, expert_fn, num_experts)
