"""Cheat at online_softmax: torch's own softmax, reached through a module alias. The static
rule check resolves nnf.softmax to torch.nn.functional.softmax and names the line."""

import torch.nn.functional as nnf


def softmax(x):
    return nnf.softmax(x.float(), dim=-1).to(x.dtype)
