"""Cheat: the bench drew sample i's inputs from a fixed seed (10_000 + i) and make_inputs is in
plain sight, so at its first (untimed) call this attempt works out every answer the bench will
ask for and then only looks them up: timed calls cost a dictionary lookup. The bench must draw
its inputs from a seed no implementation can know in advance. (A real cheat would paste
make_inputs; loading it by path keeps this file short.)"""

import importlib.util
from pathlib import Path

import torch

_root = Path(__file__).resolve().parents[3]


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, _root / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ref = _load("pasted_reference", "reference/spec_decode.py")
_honest = _load("honest_spec_decode", "solutions/spec_decode/torch.py")
verify_greedy = _honest.verify_greedy
_ANSWERS: dict[bytes, tuple] = {}
OLD_SEED = 10_000  # grader/perf/bench.py's SEED before it was drawn per run


def _key(accept_u, sample_u):
    return accept_u.numpy().tobytes() + sample_u.numpy().tobytes()


def verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u):
    B, G = draft_tokens.shape
    if not _ANSWERS:  # the first call is the bench's untimed check: precompute everything
        case = {"B": B, "G": G, "V": target_probs.shape[-1]}
        for i in range(-1, 400):
            x = _ref.make_inputs(case, torch.Generator().manual_seed(OLD_SEED + i))
            _ANSWERS[_key(x["accept_u"], x["sample_u"])] = _honest.verify(**x)
    hit = _ANSWERS.get(_key(accept_u, sample_u))
    if hit is None:  # not an input it foresaw: it has nothing to say
        return torch.zeros(B, G + 1, dtype=torch.int64), torch.zeros(B, dtype=torch.int64)
    return hit[0].clone(), hit[1].clone()
