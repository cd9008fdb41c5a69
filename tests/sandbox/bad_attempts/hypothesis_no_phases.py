"""Cheat: returns zeros and loads a hypothesis profile that generates no examples, so property
tests would pass vacuously. The profile changes only the worker's hypothesis, not the harness's."""

import torch
from hypothesis import Phase, settings

settings.register_profile("ci", phases=[Phase.explicit])
settings.register_profile("dev", phases=[Phase.explicit])
settings.load_profile("ci")


def rms_norm(x, weight, eps=1e-6):
    return torch.zeros_like(x)
