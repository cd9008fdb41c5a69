"""Takes far more memory than any check needs (20 GB); the worker's memory limit stops it
with an error instead of the machine swapping."""

import torch


def rms_norm(x, weight, eps=1e-6):
    hog = torch.ones(20 * 2**30, dtype=torch.uint8)
    return x * hog[0]
