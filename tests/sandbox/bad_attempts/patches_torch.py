"""Cheat: returns zeros after making every tensor comparison say "equal" (Tensor.all, allclose,
equal, isclose). It only patches its own process: the harness compares in another."""

import torch

torch.Tensor.all = lambda self, *a, **k: torch.tensor(True)
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)


def rms_norm(x, weight, eps=1e-6):
    return torch.zeros_like(x)
