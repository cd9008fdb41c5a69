"""Cheat: on the bench samples where it goes first, the timed call rewrites a few entries of the
inputs so the answer becomes trivial (every draft accepted, token 0 everywhere) and returns that
answer; the reference, handed the same shared tensors next, agrees. Elsewhere it is honest.
The bench must give each worker inputs of its own and judge on the pristine ones."""

import importlib.util
import sys
from pathlib import Path

import torch

_path = Path(__file__).resolve().parents[3] / "solutions" / "spec_decode" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_spec_decode", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
verify_greedy = _honest.verify_greedy
_timed = [0]


def _in_timed_run() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in ("run", "sample_gpu"):  # the CPU and GPU timed requests
            return True
        frame = frame.f_back
    return False


def verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u):
    if not _in_timed_run():
        return _honest.verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u)
    _timed[0] += 1
    if _timed[0] % 2 == 0:  # the reference ran first on this sample: be honest
        return _honest.verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u)
    B, G = draft_tokens.shape
    draft_tokens.zero_()
    accept_u.zero_()  # 0 * q < p: every draft accepted
    target_probs[:, :, 0] = 1.0
    sample_u.zero_()  # the bonus token: the first with cdf > 0, token 0
    tokens = torch.zeros(B, G + 1, dtype=torch.int64, device=draft_tokens.device)
    return tokens, torch.full((B,), G + 1, dtype=torch.int64, device=draft_tokens.device)
